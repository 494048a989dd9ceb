import { createHash } from 'node:crypto';

export const API_KEY_PATTERN = /^vk_[0-9A-Za-z]{32,}$/;

export const hashApiKey = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export const displayPrefixOf = (secret: string): string => secret.slice(0, 8);
