import { Module } from '@nestjs/common';
import { RepositoriesModule } from '@app/core';
import { WorkspaceBudget } from './workspace-budget.service';

@Module({
  imports: [RepositoriesModule],
  providers: [WorkspaceBudget],
  exports: [WorkspaceBudget],
})
export class BudgetsModule {}
