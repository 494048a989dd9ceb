import { Module } from '@nestjs/common';
import { RepositoriesModule } from '@app/core';
import { AuthModule } from '../auth/auth.module';
import { RateLimitModule } from '../rate-limit/rate-limit.module';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { FileUploadInterceptor } from './file-upload.interceptor';
import { FilesController } from './files.controller';
import { FilesService } from './files.service';

@Module({
  imports: [AuthModule, RateLimitModule, RepositoriesModule, IdempotencyModule],
  controllers: [FilesController],
  providers: [FilesService, FileUploadInterceptor],
  exports: [FilesService],
})
export class FilesModule {}
