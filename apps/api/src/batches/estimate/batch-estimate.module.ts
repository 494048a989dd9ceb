import { Module } from '@nestjs/common';
import { AuthModule } from '../../auth/auth.module';
import { RateLimitModule } from '../../rate-limit/rate-limit.module';
import { ApiEnvironment } from '../../config/api-environment';
import { FilesModule } from '../../files/files.module';
import { BatchEstimateController } from './batch-estimate.controller';
import { BatchEstimateService } from './batch-estimate.service';
import { PriceTable } from './price-table';
import { TallyThreads } from './tally-threads';

@Module({
  imports: [FilesModule, AuthModule, RateLimitModule],
  controllers: [BatchEstimateController],
  providers: [
    BatchEstimateService,
    TallyThreads,
    // Checked already at start-up (ApiEnvironment), so loading it here does not fail.
    {
      provide: PriceTable,
      useFactory: (env: ApiEnvironment) => PriceTable.load(env.PRICES_FILE),
      inject: [ApiEnvironment],
    },
  ],
  exports: [BatchEstimateService],
})
export class BatchEstimateModule {}
