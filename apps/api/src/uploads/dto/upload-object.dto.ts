import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { type FileEntity, type UploadEntity, type UploadPartEntity, unixSeconds } from '@app/core';
import { FileObjectDto } from '../../files/dto/file-object.dto';

export type UploadWireStatus = 'pending' | 'completed' | 'cancelled' | 'expired';

/** The OpenAI Upload object, keys in the order of OpenAI's examples. */
export class UploadObjectDto {
  @ApiProperty({ example: 'upload_9Gq2C0pVfT3mXa7LbZk1Wd4R' }) id!: string;
  @ApiProperty({ enum: ['upload'] }) object!: 'upload';
  @ApiProperty({ example: 1024, description: 'The intended number of bytes to be uploaded.' }) bytes!: number;
  @ApiProperty({ description: 'Unix seconds', example: 1763900000 }) created_at!: number;
  @ApiProperty({ example: 'requests.jsonl' }) filename!: string;
  @ApiProperty({ example: 'batch' }) purpose!: string;
  @ApiProperty({ enum: ['pending', 'completed', 'cancelled', 'expired'] }) status!: UploadWireStatus;
  @ApiProperty({ description: 'Unix seconds: an upload not completed by then expires', example: 1763903600 })
  expires_at!: number;
  @ApiPropertyOptional({ type: FileObjectDto, nullable: true, description: 'The File, once completed.' })
  file!: FileObjectDto | null;

  static from(upload: UploadEntity, file: FileEntity | null = null): UploadObjectDto {
    return {
      id: upload.id,
      object: 'upload',
      bytes: upload.bytes,
      created_at: unixSeconds(upload.createdAt),
      filename: upload.filename,
      purpose: upload.purpose,
      status: wireStatus(upload),
      expires_at: unixSeconds(upload.expiresAt),
      file: file ? FileObjectDto.from(file) : null,
    };
  }
}

/** A completion under way is still pending to clients; a pending upload past its hour is expired, swept or not. */
function wireStatus(upload: UploadEntity): UploadWireStatus {
  switch (upload.status) {
    case 'pending':
      return upload.expiresAt.getTime() <= Date.now() ? 'expired' : 'pending';
    case 'completing':
      return 'pending';
    case 'completed':
    case 'cancelled':
    case 'expired':
      return upload.status;
  }
}

/** The OpenAI UploadPart object. */
export class UploadPartObjectDto {
  @ApiProperty({ example: 'part_def456' }) id!: string;
  @ApiProperty({ enum: ['upload.part'] }) object!: 'upload.part';
  @ApiProperty({ description: 'Unix seconds', example: 1763900100 }) created_at!: number;
  @ApiProperty({ example: 'upload_abc123' }) upload_id!: string;

  static from(part: Pick<UploadPartEntity, 'id' | 'uploadId' | 'createdAt'>): UploadPartObjectDto {
    return { id: part.id, object: 'upload.part', created_at: unixSeconds(part.createdAt), upload_id: part.uploadId };
  }
}
