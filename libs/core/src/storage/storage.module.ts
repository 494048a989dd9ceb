import { Global, Module } from '@nestjs/common';
import { CoreEnvironment } from '../config/env';
import { FileStorage } from './file-storage';
import { LocalDiskStorage } from './local-disk.storage';

@Global()
@Module({
  providers: [
    {
      provide: FileStorage,
      inject: [CoreEnvironment],
      useFactory: (env: CoreEnvironment) => new LocalDiskStorage(env.STORAGE_DIR),
    },
  ],
  exports: [FileStorage],
})
export class StorageModule {}
