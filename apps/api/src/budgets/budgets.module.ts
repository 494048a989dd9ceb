import { Module } from '@nestjs/common';
import { BatchRepository, BatchTransitions } from '@app/core';
import { WorkspaceBudget } from './workspace-budget.service';

@Module({ providers: [WorkspaceBudget, BatchRepository, BatchTransitions], exports: [WorkspaceBudget] })
export class BudgetsModule {}
