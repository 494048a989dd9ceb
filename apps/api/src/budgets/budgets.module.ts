import { Module } from '@nestjs/common';
import { BatchRepositoriesModule } from '@app/core';
import { WorkspaceBudget } from './workspace-budget.service';

@Module({
  imports: [BatchRepositoriesModule],
  providers: [WorkspaceBudget],
  exports: [WorkspaceBudget],
})
export class BudgetsModule {}
