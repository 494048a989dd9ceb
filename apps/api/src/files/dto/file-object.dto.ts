import { ListDto } from '../../common/list-page';
import { ApiProperty } from '@nestjs/swagger';
import { FILE_PURPOSES, FILE_WIRE, type FileEntity, type FilePurpose } from '@app/core';

/** The OpenAI File object for Swagger; FILE_WIRE makes it. */
export class FileObjectDto {
  @ApiProperty({ enum: ['file'] }) object!: 'file';
  @ApiProperty({ example: 'file-9Gq2C0pVfT3mXa7LbZk1Wd4R' }) id!: string;
  @ApiProperty({ enum: FILE_PURPOSES })
  purpose!: FilePurpose;
  @ApiProperty({ example: 'requests.jsonl' }) filename!: string;
  @ApiProperty({ example: 1024 }) bytes!: number;
  @ApiProperty({ description: 'Unix seconds', example: 1763900000 }) created_at!: number;
  @ApiProperty({ description: 'Unix seconds, or null when the file does not expire', nullable: true, type: Number })
  expires_at!: number | null;
  @ApiProperty({ enum: ['uploaded', 'processed', 'error'], deprecated: true }) status!: 'processed';
  @ApiProperty({ nullable: true, type: String, deprecated: true }) status_details!: null;

  static from(file: FileEntity): FileObjectDto {
    return FILE_WIRE.toWire(file);
  }
}

export class FileListDto extends ListDto(FileObjectDto) {}

export class FileDeletedDto {
  @ApiProperty({ enum: ['file'] }) object!: 'file';
  @ApiProperty() deleted!: true;
  @ApiProperty() id!: string;
}
