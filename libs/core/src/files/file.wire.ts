import { wireFields, WireShape } from '../database/reads/wire-shape';
import { FileEntity } from './file.entity';

const f = wireFields<FileEntity>();

/**
 * The OpenAI File object's keys in the order the live API sends them, and where each comes from (see WireShape):
 * FileRepository has PostgreSQL write it for the reads clients poll, the api's FileObjectDto makes it in Node.
 */
export const FILE_WIRE = new WireShape(FileEntity, {
  object: f.constant('file'),
  id: f.value('id'),
  purpose: f.value('purpose'),
  filename: f.value('filename'),
  bytes: f.value('bytes'),
  created_at: f.seconds('createdAt'),
  expires_at: f.seconds('expiresAt'),
  status: f.constant('processed'),
  status_details: f.constant(null),
});

export type FileWire = ReturnType<typeof FILE_WIRE.toWire>;
