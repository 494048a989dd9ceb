import type { DataSource } from 'typeorm';
import type { FileStorage } from '../storage/file-storage';
import { UploadRepository } from './upload.repository';

/** UploadRepository.releaseStorage, for the sweeper, which reaches the database through its DataSource. */
export function releaseUploadStorage(dataSource: DataSource, storage: FileStorage, uploadId: string): Promise<boolean> {
  return new UploadRepository(dataSource).releaseStorage(storage, uploadId);
}
