import { Module } from '@nestjs/common';
import { ReadinessModule } from '@app/core';
import { HealthController } from './health.controller';

@Module({
  imports: [ReadinessModule.forRoot('producer')],
  controllers: [HealthController],
})
export class HealthModule {}
