import { Module } from '@nestjs/common';
import { ApiRedisModule } from '../redis/api-redis.module';
import { ApiKeyCache } from './api-key-cache';
import { ApiKeyGuard } from './api-key.guard';
import { PreparedReadsModule } from '../common/prepared-reads.module';

@Module({
  imports: [ApiRedisModule, PreparedReadsModule],
  providers: [ApiKeyGuard, ApiKeyCache],
  exports: [ApiKeyGuard, ApiKeyCache],
})
export class AuthModule {}
