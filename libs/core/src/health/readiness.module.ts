import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { QueueModule, type QueueRole } from '../queue/queue.module';
import { ReadinessCheck } from './readiness';

@Module({})
export class ReadinessModule {
  static forRoot(role: QueueRole): DynamicModule {
    return {
      module: ReadinessModule,
      imports: [TerminusModule, QueueModule.forRoot(role)],
      providers: [ReadinessCheck],
      exports: [ReadinessCheck],
    };
  }
}
