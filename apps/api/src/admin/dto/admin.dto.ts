import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDefined, IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min, ValidateIf } from 'class-validator';
import { type ApiKeyEntity, unixSeconds, type WorkspaceEntity } from '@app/core';

export class CreateWorkspaceDto {
  @ApiProperty({ example: 'acme' })
  @IsString({ message: 'name must be a string' })
  @IsNotEmpty({ message: 'name must not be empty' })
  @MaxLength(200, { message: 'name must be at most 200 characters' })
  name!: string;
}

export class CreateApiKeyDto {
  @ApiPropertyOptional({ example: 'ci key' })
  @IsOptional()
  @IsString({ message: 'name must be a string' })
  @MaxLength(200, { message: 'name must be at most 200 characters' })
  name?: string;
}

export class UpdateWorkspaceDto {
  @ApiProperty({
    nullable: true,
    type: Number,
    example: 5_000_000,
    description:
      'Tokens (input + output) the workspace may use per calendar month, UTC; null removes the budget. A batch ' +
      'whose estimate does not fit in what is left is refused with 429 budget_exceeded.',
  })
  @ValidateIf((body: UpdateWorkspaceDto) => body.monthly_token_budget !== null)
  @IsDefined({ message: "Missing required parameter: 'monthly_token_budget'." })
  @IsInt({ message: "Invalid 'monthly_token_budget': expected a whole number of tokens, 0 or more, or null." })
  @Min(0, { message: "Invalid 'monthly_token_budget': expected a whole number of tokens, 0 or more, or null." })
  @Max(Number.MAX_SAFE_INTEGER, { message: "Invalid 'monthly_token_budget': too large." })
  monthly_token_budget!: number | null;
}

export class UsageQueryDto {
  @ApiPropertyOptional({ description: 'Only usage recorded at or after this Unix time (seconds).' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'start_time must be a Unix time in seconds' })
  @Min(0, { message: 'start_time must be a Unix time in seconds' })
  start_time?: number;

  @ApiPropertyOptional({ description: 'Only usage recorded before this Unix time (seconds).' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'end_time must be a Unix time in seconds' })
  @Min(0, { message: 'end_time must be a Unix time in seconds' })
  end_time?: number;
}

export class WorkspaceDto {
  @ApiProperty({ example: 'ws_4Wb0C3Qm6n0aB8Xk2rT9yZ1d' }) id!: string;
  @ApiProperty({ example: 'acme' }) name!: string;
  @ApiProperty({ example: 1763900000 }) created_at!: number;
  @ApiProperty({ nullable: true, type: Number, description: 'Tokens per calendar month (UTC); null = no budget.' })
  monthly_token_budget!: number | null;

  static from(entity: WorkspaceEntity): WorkspaceDto {
    return {
      id: entity.id,
      name: entity.name,
      created_at: unixSeconds(entity.createdAt),
      monthly_token_budget: entity.monthlyTokenBudget ?? null,
    };
  }
}

export class WorkspaceListDto {
  @ApiProperty({ enum: ['list'] }) object!: 'list';
  @ApiProperty({ type: [WorkspaceDto] }) data!: WorkspaceDto[];
}

export class CreatedApiKeyDto {
  @ApiProperty({ example: 'key_0aB8Xk2rT9yZ1d4Wb0C3Qm6n' }) id!: string;
  @ApiProperty({ description: 'The secret. Shown once, never again.', example: 'vk_...' }) key!: string;
  @ApiProperty() workspace_id!: string;
  @ApiProperty({ nullable: true, type: String }) name!: string | null;
  @ApiProperty() created_at!: number;

  static from(entity: ApiKeyEntity, secret: string): CreatedApiKeyDto {
    return {
      id: entity.id,
      key: secret,
      workspace_id: entity.workspaceId,
      name: entity.name,
      created_at: unixSeconds(entity.createdAt),
    };
  }
}

export class RevokedApiKeyDto {
  @ApiProperty() id!: string;
  @ApiProperty({ enum: ['api_key'] }) object!: 'api_key';
  @ApiProperty() revoked!: boolean;
}

export class UsageTotalsDto {
  @ApiProperty() requests!: number;
  @ApiProperty() input_tokens!: number;
  @ApiProperty() cached_tokens!: number;
  @ApiProperty() output_tokens!: number;
  @ApiProperty() reasoning_tokens!: number;
  @ApiProperty() total_tokens!: number;
}

export class ModelUsageDto extends UsageTotalsDto {
  @ApiProperty() model!: string;
  @ApiProperty({
    enum: ['online', 'batch'],
    description:
      "`batch`: lines a provider's own Batch API ran, at its batch price; `online`: lines sent to an online endpoint.",
  })
  pricing!: 'online' | 'batch';
  @ApiProperty() batches!: number;
}

export class CurrentMonthBudgetDto {
  @ApiProperty({ description: 'Unix time of the start of this calendar month (UTC).' }) start_time!: number;
  @ApiProperty({ nullable: true, type: Number, description: 'monthly_token_budget; null = none.' })
  budget!: number | null;
  @ApiProperty({ description: 'Tokens billed this month (usage ledger) plus those used so far by open batches.' })
  used!: number;
  @ApiProperty({ description: 'What open batches may still use: their estimate at create less what they used.' })
  reserved!: number;
}

export class WorkspaceUsageDto {
  @ApiProperty() object!: 'workspace.usage';
  @ApiProperty() workspace_id!: string;
  @ApiProperty({ nullable: true, type: Number }) start_time!: number | null;
  @ApiProperty({ nullable: true, type: Number }) end_time!: number | null;
  @ApiProperty() batches!: number;
  @ApiProperty({ type: UsageTotalsDto }) totals!: UsageTotalsDto;
  @ApiProperty({ type: [ModelUsageDto] }) by_model!: ModelUsageDto[];
  @ApiProperty({ type: CurrentMonthBudgetDto, description: 'The budget this month, whatever the range asked.' })
  current_month!: CurrentMonthBudgetDto;
}
