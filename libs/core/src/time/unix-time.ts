/** Unix seconds, as the OpenAI objects carry every time. */
export const unixSeconds = (date: Date): number => Math.floor(date.getTime() / 1000);

/** `seconds` after `start` as clients see it: whole seconds, so expires_at - created_at is exact on the wire. */
export const secondsAfter = (start: Date, seconds: number): Date => new Date((unixSeconds(start) + seconds) * 1000);
