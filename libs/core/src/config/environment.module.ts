import { type DynamicModule, Global, Module } from '@nestjs/common';
import { CoreEnvironment } from './env';

/** Makes the validated environment injectable by its class (and as CoreEnvironment for shared modules). */
@Global()
@Module({})
export class EnvironmentModule {
  static forRoot<T extends CoreEnvironment>(env: T): DynamicModule {
    const tokens = env.constructor === CoreEnvironment ? [CoreEnvironment] : [CoreEnvironment, env.constructor];
    const providers = tokens.map((token) => ({ provide: token, useValue: env }));
    return { module: EnvironmentModule, providers, exports: tokens };
  }
}
