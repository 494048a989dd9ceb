import { Module } from '@nestjs/common';
import { PreparedReads } from './prepared-reads';

@Module({ providers: [PreparedReads], exports: [PreparedReads] })
export class PreparedReadsModule {}
