import { Global, Module } from '@nestjs/common';
import { CoreEnvironment } from '../config/env';
import { FileStorage } from './file-storage';
import { LocalDiskStorage } from './local-disk.storage';
import { S3FileStorage } from './s3.storage';

@Global()
@Module({
  providers: [
    {
      provide: FileStorage,
      inject: [CoreEnvironment],
      useFactory: (env: CoreEnvironment): FileStorage => {
        switch (env.STORAGE_DRIVER) {
          case 'local':
            return new LocalDiskStorage(env.STORAGE_DIR);
          case 's3':
            return new S3FileStorage({
              bucket: env.S3_BUCKET,
              region: env.S3_REGION,
              endpoint: env.S3_ENDPOINT,
              forcePathStyle: env.S3_FORCE_PATH_STYLE,
              prefix: env.S3_PREFIX,
              credentials:
                env.S3_ACCESS_KEY_ID && env.S3_SECRET_ACCESS_KEY
                  ? { accessKeyId: env.S3_ACCESS_KEY_ID, secretAccessKey: env.S3_SECRET_ACCESS_KEY }
                  : undefined,
            });
        }
      },
    },
  ],
  exports: [FileStorage],
})
export class StorageModule {}
