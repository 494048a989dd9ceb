import { Module } from '@nestjs/common';
import { RepositoriesModule } from '@app/core';
import { AuthModule } from '../auth/auth.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { RateLimitModule } from '../rate-limit/rate-limit.module';
import { FilesModule } from '../files/files.module';
import { UploadJoiner } from './upload-joiner';
import { UploadPartInterceptor } from './upload-part.interceptor';
import { UploadsController } from './uploads.controller';
import { UploadsService } from './uploads.service';

/** Uploads end as files: uploads -> files, never the reverse. */
@Module({
  imports: [AuthModule, RateLimitModule, FilesModule, IdempotencyModule, RepositoriesModule],
  controllers: [UploadsController],
  providers: [UploadsService, UploadJoiner, UploadPartInterceptor],
})
export class UploadsModule {}
