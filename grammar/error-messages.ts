import { EOF, type IParserErrorMessageProvider, type IToken, type TokenType } from 'chevrotain';

/** What each grammar rule is called in messages ("while parsing a model parameter"). */
const RULE_NAMES: Record<string, string> = {
  file: 'a top-level declaration (import, block, model, scaling or variant)',
  blockDecl: 'a block declaration',
  returnStmt: 'a return statement',
  importDecl: 'an import',
  modelDecl: 'a model declaration',
  derivedModel: 'a derived model',
  paramList: 'the parameter list',
  param: 'a model parameter',
  typeExpr: 'a type',
  typeAtom: 'a type',
  assignments: 'an assignment list',
  assignment: 'an assignment',
  scalingDecl: 'a scaling rule',
  scalingOption: 'a scaling option',
  variantDecl: 'a variant',
  ruleRef: 'a scaling rule reference (rule.option)',
  body: 'a block of statements',
  statement: 'a statement',
  forStmt: 'a for loop',
  ifStmt: 'an if statement',
  outputStmt: 'an output statement',
  assertStmt: 'an assert statement',
  hintStmt: 'a hint',
  exprStmt: 'a statement',
  argument: 'a call argument',
  callSuffix: 'call arguments',
  listExpr: 'a list',
  ifExpr: "an 'if … then … else …' expression",
  repeatExpr: "a 'repeat N block(...)' expression",
};

function describe(token: IToken): string {
  if (token.tokenType === EOF) return 'end of file';
  return `'${token.image}'`;
}

function label(t: TokenType): string {
  return t.LABEL ?? t.name;
}

function ruleText(ruleName: string): string {
  return RULE_NAMES[ruleName] ?? 'an expression';
}

/**
 * Short messages: Chevrotain's defaults list every viable path, which for an expression
 * grammar is hundreds of lines.
 */
export const mnxErrorMessages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, ruleName }) {
    return `expected ${label(expected)} but found ${describe(actual)} in ${ruleText(ruleName)}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `unexpected ${describe(firstRedundant)}: expected the end of the input`;
  },
  buildNoViableAltMessage({ actual, ruleName }) {
    return `unexpected ${describe(actual[0]!)} while parsing ${ruleText(ruleName)}`;
  },
  buildEarlyExitMessage({ actual, ruleName }) {
    return `unexpected ${describe(actual[0]!)} while parsing ${ruleText(ruleName)}`;
  },
};
