import { Module } from '@nestjs/common';
import { BatchRepository, BatchTransitions, PreparedReadsModule } from '@app/core';
import { WorkspaceBudget } from './workspace-budget.service';

@Module({
  imports: [PreparedReadsModule],
  providers: [WorkspaceBudget, BatchRepository, BatchTransitions],
  exports: [WorkspaceBudget],
})
export class BudgetsModule {}
