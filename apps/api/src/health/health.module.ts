import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { QueueModule } from '@app/core';
import { HealthController } from './health.controller';
import { QueueHealthIndicator } from './queue.health';

@Module({
  imports: [TerminusModule, QueueModule.forRoot('producer')],
  controllers: [HealthController],
  providers: [QueueHealthIndicator],
})
export class HealthModule {}
