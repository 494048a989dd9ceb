import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

interface ModelPrice {
  pattern: RegExp;
  inputPerMillion: number;
  outputPerMillion: number;
  /** The share taken off list prices for batch work: 0.5 = half price. */
  batchDiscount: number;
}

/** "gpt-4o*" → /^gpt-4o.*$/ : `*` is the only wildcard (as in UPSTREAMS_FILE). */
const globToRegExp = (glob: string) =>
  new RegExp(
    `^${glob
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );

const isPrice = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;
const isDiscount = (value: unknown): value is number => isPrice(value) && value < 1;

/** USD to a millionth of a cent: enough for any sum of token prices, without float noise in answers. */
const roundUsd = (usd: number) => Math.round(usd * 1e8) / 1e8;

/**
 * What tokens cost, per model, from PRICES_FILE: the first matching entry wins. Without the file no model has a
 * price and every cost is null.
 */
export class PriceTable {
  constructor(private readonly prices: ModelPrice[] = []) {}

  /**
   * Reads `{ batch_discount?, models: [{ match, input_per_million, output_per_million, batch_discount? }] }`
   * as JSON or YAML; any mistake stops start-up with the entry named.
   */
  static load(path: string | undefined): PriceTable {
    if (!path) {
      return new PriceTable();
    }
    const text = readFileSync(path, 'utf8');
    const document = (path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as {
      batch_discount?: unknown;
      models?: unknown;
    } | null;
    if (!Array.isArray(document?.models)) {
      throw new Error(`PRICES_FILE ${path} must hold a "models" list`);
    }
    const defaultDiscount = document.batch_discount ?? 0;
    if (!isDiscount(defaultDiscount)) {
      throw new Error(`PRICES_FILE ${path}: "batch_discount" must be a number from 0 to below 1 (0.5 = half price)`);
    }
    const prices = (document.models as Record<string, unknown>[]).map((entry, index) => {
      const where = `PRICES_FILE ${path}: model #${index + 1}`;
      if (typeof entry?.match !== 'string' || entry.match.length === 0) {
        throw new Error(`${where} needs a "match" (a model name, * matches anything)`);
      }
      if (!isPrice(entry.input_per_million) || !isPrice(entry.output_per_million)) {
        throw new Error(`${where} needs "input_per_million" and "output_per_million" in USD, 0 or more`);
      }
      const batchDiscount = entry.batch_discount ?? defaultDiscount;
      if (!isDiscount(batchDiscount)) {
        throw new Error(`${where} has a "batch_discount" that is not a number from 0 to below 1`);
      }
      return {
        pattern: globToRegExp(entry.match),
        inputPerMillion: entry.input_per_million,
        outputPerMillion: entry.output_per_million,
        batchDiscount,
      };
    });
    return new PriceTable(prices);
  }

  /** The batch price of these tokens in USD, or null when the model has no price. */
  cost(model: string, inputTokens: number, outputTokens: number): number | null {
    const price = this.prices.find((entry) => entry.pattern.test(model));
    if (!price) {
      return null;
    }
    const list = (inputTokens * price.inputPerMillion + outputTokens * price.outputPerMillion) / 1_000_000;
    return roundUsd(list * (1 - price.batchDiscount));
  }

  /** The sum of costs, or null when any is unknown: a partial total would read as the whole. */
  static total(costs: (number | null)[]): number | null {
    return costs.some((cost) => cost === null) ? null : roundUsd(costs.reduce<number>((sum, cost) => sum + cost!, 0));
  }
}
