import { AppError } from './app-error';
import { ERRORS } from './error-codes';

/** The OpenAI error envelope: all four keys are always present. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function toOpenAIError(error: AppError): { status: number; body: OpenAIErrorBody } {
  const shape = ERRORS[error.code];
  return {
    status: shape.status,
    body: {
      error: { message: error.message, type: shape.type, param: error.param, code: error.wireCode ?? shape.wireCode },
    },
  };
}
