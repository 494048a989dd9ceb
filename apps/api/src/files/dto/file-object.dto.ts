import { ListDto } from '../../common/list-page';
import { ApiProperty } from '@nestjs/swagger';
import { type FileEntity, type FilePurpose, unixSeconds } from '@app/core';

/** The OpenAI File object, keys in the order the live API sends them. */
export class FileObjectDto {
  @ApiProperty({ enum: ['file'] }) object!: 'file';
  @ApiProperty({ example: 'file-9Gq2C0pVfT3mXa7LbZk1Wd4R' }) id!: string;
  @ApiProperty({
    enum: [
      'assistants',
      'assistants_output',
      'batch',
      'batch_output',
      'fine-tune',
      'fine-tune-results',
      'vision',
      'user_data',
      'evals',
    ],
  })
  purpose!: FilePurpose;
  @ApiProperty({ example: 'requests.jsonl' }) filename!: string;
  @ApiProperty({ example: 1024 }) bytes!: number;
  @ApiProperty({ description: 'Unix seconds', example: 1763900000 }) created_at!: number;
  @ApiProperty({ description: 'Unix seconds, or null when the file does not expire', nullable: true, type: Number })
  expires_at!: number | null;
  @ApiProperty({ enum: ['uploaded', 'processed', 'error'], deprecated: true }) status!: 'processed';
  @ApiProperty({ nullable: true, type: String, deprecated: true }) status_details!: null;

  static from(file: FileEntity): FileObjectDto {
    return {
      object: 'file',
      id: file.id,
      purpose: file.purpose,
      filename: file.filename,
      bytes: file.bytes,
      created_at: unixSeconds(file.createdAt),
      expires_at: file.expiresAt ? unixSeconds(file.expiresAt) : null,
      status: 'processed',
      status_details: null,
    };
  }
}

export class FileListDto extends ListDto(FileObjectDto) {}

export class FileDeletedDto {
  @ApiProperty({ enum: ['file'] }) object!: 'file';
  @ApiProperty() deleted!: true;
  @ApiProperty() id!: string;
}
