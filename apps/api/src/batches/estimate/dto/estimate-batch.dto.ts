import { PickType } from '@nestjs/swagger';
import { CreateBatchDto } from '../../dto/create-batch.dto';

/** What an estimate needs of a batch create: the same two fields, with the same rules. */
export class EstimateBatchDto extends PickType(CreateBatchDto, ['input_file_id', 'endpoint'] as const) {}
