import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CoreEnvironment } from '../config/env';
import { dataSourceOptions } from './data-source';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [CoreEnvironment],
      useFactory: (env: CoreEnvironment) => dataSourceOptions(env.DATABASE_URL),
    }),
  ],
})
export class DatabaseModule {}
