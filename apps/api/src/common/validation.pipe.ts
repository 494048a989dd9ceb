import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { AppError, ErrorCode } from '@app/core';

function firstProblem(errors: ValidationError[], parent = ''): { param: string; message: string } {
  const error = errors[0];
  const param = parent ? `${parent}.${error.property}` : error.property;
  if (error.constraints) {
    return { param, message: Object.values(error.constraints)[0] };
  }
  return firstProblem(error.children ?? [], param);
}

/** class-validator through the same error path as everything else: 400 with `param` naming the field. */
export const openAIValidationPipe = new ValidationPipe({
  transform: true,
  whitelist: true,
  forbidNonWhitelisted: false,
  stopAtFirstError: true,
  exceptionFactory: (errors) => {
    const { param, message } = firstProblem(errors);
    return new AppError(ErrorCode.InvalidRequest, message, param);
  },
});
