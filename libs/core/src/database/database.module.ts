import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CoreEnvironment } from '../config/env';
import { dataSourceOptions } from './data-source';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [CoreEnvironment],
      useFactory: (env: CoreEnvironment) => dataSourceOptions(env.DATABASE_URL, env.DATABASE_POOL_SIZE),
    }),
  ],
})
export class DatabaseModule {}
