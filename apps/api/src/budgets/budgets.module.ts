import { Module } from '@nestjs/common';
import { BatchEstimateModule } from '../batches/estimate/batch-estimate.module';
import { WorkspaceBudget } from './workspace-budget.service';

@Module({ imports: [BatchEstimateModule], providers: [WorkspaceBudget], exports: [WorkspaceBudget] })
export class BudgetsModule {}
