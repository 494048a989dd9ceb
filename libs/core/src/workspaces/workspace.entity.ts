import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/columns';

@Entity('workspaces')
export class WorkspaceEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Column({ type: 'varchar', length: 200, unique: true })
  name!: string;

  /** Tokens the workspace may use per calendar month (UTC); null = no budget. */
  @Column({ name: 'monthly_token_budget', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  monthlyTokenBudget!: number | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
