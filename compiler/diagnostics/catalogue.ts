/**
 * Every diagnostic the compiler can emit, with a stable code and a `{0}`-templated message.
 * Codes never change meaning; new ones are appended. MNX1xxx syntax, MNX2xxx names and
 * declarations, MNX3xxx types and values, MNX4xxx shapes, MNX5xxx evaluation, MNX6xxx warnings.
 */
export const Messages = {
  UnexpectedCharacter: { code: 'MNX1001', severity: 'error', text: "unexpected character '{0}'" },
  SyntaxError: { code: 'MNX1002', severity: 'error', text: '{0}' },
  UnterminatedString: { code: 'MNX1003', severity: 'error', text: 'unterminated string: a string must end with \'"\' on the same line' },
  UnterminatedComment: { code: 'MNX1004', severity: 'error', text: "unterminated comment: '/*' has no matching '*/'" },
  NumberTooLarge: { code: 'MNX1005', severity: 'error', text: 'number {0} is too large (the largest exact integer is 2^53 - 1)' },
  UnexpectedEnd: { code: 'MNX1006', severity: 'error', text: 'unexpected end of file: {0}' },
  BadInterpolation: { code: 'MNX1007', severity: 'error', text: "invalid '{…}' interpolation in string: {0}" },

  UnknownName: { code: 'MNX2001', severity: 'error', text: "unknown name '{0}'{1}" },
  UnknownCallee: { code: 'MNX2002', severity: 'error', text: "unknown block or function '{0}'{1}" },
  UnknownArgument: { code: 'MNX2003', severity: 'error', text: "'{1}' has no argument '{0}'{2}" },
  MissingArgument: { code: 'MNX2004', severity: 'error', text: "'{1}' needs argument '{0}' ({2})" },
  DuplicateArgument: { code: 'MNX2005', severity: 'error', text: "argument '{0}' is given twice" },
  DuplicateDeclaration: { code: 'MNX2006', severity: 'error', text: "{0} '{1}' is already declared at {2}" },
  UnknownParameter: { code: 'MNX2007', severity: 'error', text: "model '{1}' has no parameter '{0}'{2}" },
  UnknownVariant: { code: 'MNX2008', severity: 'error', text: "unknown variant '{0}'{1}" },
  UnknownScaling: { code: 'MNX2009', severity: 'error', text: "unknown scaling rule '{0}'{1}" },
  ImportCycle: { code: 'MNX2010', severity: 'error', text: 'import cycle: {0}' },
  ImportNotFound: { code: 'MNX2011', severity: 'error', text: "cannot read imported file '{0}' ({1})" },
  NoModel: { code: 'MNX2012', severity: 'error', text: '{0}' },
  ConflictingScaling: { code: 'MNX2013', severity: 'error', text: "scaling rules {1} and {2} both set '{0}' to different values" },
  UnknownModel: { code: 'MNX2014', severity: 'error', text: "unknown model '{0}'{1}" },
  UsedBeforeAssignment: { code: 'MNX2015', severity: 'error', text: "'{0}' is used before it is assigned" },
  InvalidAssignmentTarget: { code: 'MNX2016', severity: 'error', text: 'only a name or name[index] can be assigned to' },
  ReservedName: { code: 'MNX2017', severity: 'error', text: "'{0}' is a built-in and cannot be assigned" },
  ImportNotAllowed: { code: 'MNX2018', severity: 'error', text: "cannot import '{0}': {1}" },

  ParamTypeMismatch: { code: 'MNX3001', severity: 'error', text: "parameter '{0}' expects {1}, got {2}" },
  ArgTypeMismatch: { code: 'MNX3002', severity: 'error', text: "argument '{0}' of '{1}' expects {2}, got {3}" },
  BadKernelSize: { code: 'MNX3003', severity: 'error', text: 'kernel size must be an odd positive integer, got {0}' },
  StageListLength: { code: 'MNX3004', severity: 'error', text: "'{0}' has {1} entries but the network has {2} stages: give one per stage" },
  OperatorType: { code: 'MNX3005', severity: 'error', text: "operator '{0}' cannot combine {1} and {2}" },
  IndexOutOfRange: { code: 'MNX3006', severity: 'error', text: 'index {0} is out of range for a list of {1}' },
  DivisionByZero: { code: 'MNX3007', severity: 'error', text: 'division by zero' },
  BadOverride: { code: 'MNX3008', severity: 'error', text: "--set '{0}': {1}" },
  ExpectedTensor: { code: 'MNX3009', severity: 'error', text: '{0}' },
  ConditionNotBool: { code: 'MNX3010', severity: 'error', text: 'a condition must be true or false, got {0}' },
  BadValue: { code: 'MNX3011', severity: 'error', text: '{0}' },
  EvenKernelPadding: { code: 'MNX3012', severity: 'error', text: "kernel size {0} is even: give 'padding' explicitly (an even kernel has no centred padding)" },

  InputNotDivisible: { code: 'MNX4001', severity: 'error', text: 'input size {0} is not divisible by {1}, the down-sampling factor per axis (up to {2} halvings): nearest valid sizes {3}' },
  SkipShapeMismatch: { code: 'MNX4002', severity: 'error', text: 'cannot add tensors of shapes {0} and {1}: {2}' },
  BadChannels: { code: 'MNX4003', severity: 'error', text: '{0}' },
  WrongInputRank: { code: 'MNX4004', severity: 'error', text: '{0}' },
  DuplicateModuleName: { code: 'MNX4005', severity: 'error', text: "module name '{0}' is used twice: parameter names must be unique" },
  BadOutputs: { code: 'MNX4006', severity: 'error', text: '{0}' },
  SpatialTooSmall: { code: 'MNX4007', severity: 'error', text: 'spatial size shrinks to {0} at {1}: the input is too small for this network' },
  ReshapeMismatch: { code: 'MNX4008', severity: 'error', text: 'cannot reshape {0} ({1} elements per sample) to {2} ({3} elements){4}' },
  PatchNotDivisible: { code: 'MNX4009', severity: 'error', text: 'size {0} is not divisible by the patch size {1} (kernel = stride) on axis {2}: nearest valid sizes {3}' },
  TensorShapeMismatch: { code: 'MNX4010', severity: 'error', text: '{0}' },
  TensorKind: { code: 'MNX4011', severity: 'error', text: "'{0}' needs {1}, got {2}" },

  AssertionFailed: { code: 'MNX5001', severity: 'error', text: 'assertion failed: {0}' },
  LimitExceeded: { code: 'MNX5002', severity: 'error', text: '{0}' },

  UserWarning: { code: 'MNX6001', severity: 'warning', text: '{0}' },
} as const;

export type MessageKey = keyof typeof Messages;

export function format(text: string, args: (string | number)[]): string {
  return text.replace(/\{(\d+)\}/g, (_, i: string) => String(args[Number(i)] ?? ''));
}
