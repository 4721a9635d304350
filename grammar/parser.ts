import { CstParser, type CstNode, type IRecognitionException, type IToken, type ILexingError } from 'chevrotain';
import * as T from './tokens.js';
import { mnxErrorMessages } from './error-messages.js';

/**
 * The .mnx grammar (Chevrotain, CST). Error recovery is on, so one run reports every syntax
 * error; the message provider keeps messages short (no lists of every possible path).
 *
 *   file        := (import | block | model | scaling | variant)*
 *   block       := 'block' ID '(' params ')' body          (body ends in 'return' expr)
 *   model       := 'model' ID ( '(' params ')' body | '=' ID ('with' ID)? assignments? )
 *   scaling     := 'scaling' ID '{' (ID assignments)* '}'
 *   variant     := 'variant' ID ('=' ruleRef ('+' ruleRef)*)? assignments?
 *   statement   := for | if | output | assert | warn | hint | expr ('=' expr)?
 *   expression  := coalesce-or-and-not-comparison-range-additive-multiplicative-unary-power-postfix
 */
export class MnxParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, errorMessageProvider: mnxErrorMessages, nodeLocationTracking: 'full' });
    this.performSelfAnalysis();
  }

  public file = this.RULE('file', () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.importDecl) },
        { ALT: () => this.SUBRULE(this.blockDecl) },
        { ALT: () => this.SUBRULE(this.modelDecl) },
        { ALT: () => this.SUBRULE(this.scalingDecl) },
        { ALT: () => this.SUBRULE(this.variantDecl) },
      ]);
    });
  });

  public importDecl = this.RULE('importDecl', () => {
    this.CONSUME(T.Import);
    this.CONSUME(T.StringLiteral);
  });

  public modelDecl = this.RULE('modelDecl', () => {
    this.CONSUME(T.Model);
    this.CONSUME(T.Identifier);
    this.OR([
      { ALT: () => { this.SUBRULE(this.paramList); this.SUBRULE(this.body); } },
      { ALT: () => this.SUBRULE(this.derivedModel) },
    ]);
  });

  /** `block name(x: tensor, k: kernel = 3) { … return y }`: a reusable, parameterised sub-network. */
  public blockDecl = this.RULE('blockDecl', () => {
    this.CONSUME(T.Block);
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.paramList);
    this.SUBRULE(this.body);
  });

  public derivedModel = this.RULE('derivedModel', () => {
    this.CONSUME(T.Equals);
    this.CONSUME(T.Identifier, { LABEL: 'base' });
    this.OPTION(() => {
      this.CONSUME(T.With);
      this.CONSUME2(T.Identifier, { LABEL: 'variant' });
    });
    this.OPTION2(() => this.SUBRULE(this.assignments));
  });

  public paramList = this.RULE('paramList', () => {
    this.CONSUME(T.LParen);
    // Comma-separated, trailing comma allowed.
    this.MANY(() => {
      this.SUBRULE(this.param);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RParen);
  });

  public param = this.RULE('param', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.typeExpr);
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expression);
    });
  });

  public typeExpr = this.RULE('typeExpr', () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.Pipe, DEF: () => this.SUBRULE(this.typeAtom) });
  });

  public typeAtom = this.RULE('typeAtom', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.OPTION(() => {
            this.CONSUME(T.LBracket);
            this.SUBRULE(this.typeExpr);
            this.CONSUME(T.RBracket);
          });
        },
      },
      { ALT: () => this.CONSUME(T.StringLiteral) },
      { ALT: () => this.CONSUME(T.None) },
    ]);
  });

  public assignments = this.RULE('assignments', () => {
    this.CONSUME(T.LCurly);
    this.MANY(() => {
      this.SUBRULE(this.assignment);
      this.OPTION(() => this.OR([{ ALT: () => this.CONSUME(T.Comma) }, { ALT: () => this.CONSUME(T.Semicolon) }]));
    });
    this.CONSUME(T.RCurly);
  });

  public assignment = this.RULE('assignment', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  public scalingDecl = this.RULE('scalingDecl', () => {
    this.CONSUME(T.Scaling);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.scalingOption));
    this.CONSUME(T.RCurly);
  });

  public scalingOption = this.RULE('scalingOption', () => {
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.assignments);
  });

  public variantDecl = this.RULE('variantDecl', () => {
    this.CONSUME(T.Variant);
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.AT_LEAST_ONE_SEP({ SEP: T.Plus, DEF: () => this.SUBRULE(this.ruleRef) });
    });
    this.OPTION2(() => this.SUBRULE(this.assignments));
  });

  public ruleRef = this.RULE('ruleRef', () => {
    this.CONSUME(T.Identifier, { LABEL: 'rule' });
    this.CONSUME(T.Dot);
    this.CONSUME2(T.Identifier, { LABEL: 'option' });
  });

  public body = this.RULE('body', () => {
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.statement));
    this.CONSUME(T.RCurly);
  });

  public statement = this.RULE('statement', () => {
    // A statement starting with `if` is an if statement, never an `if … then … else` expression.
    this.OR({ IGNORE_AMBIGUITIES: true, DEF: [
      { ALT: () => this.SUBRULE(this.forStmt) },
      { ALT: () => this.SUBRULE(this.ifStmt) },
      { ALT: () => this.SUBRULE(this.outputStmt) },
      { ALT: () => this.SUBRULE(this.assertStmt) },
      { ALT: () => this.SUBRULE(this.hintStmt) },
      { ALT: () => this.SUBRULE(this.returnStmt) },
      { ALT: () => this.SUBRULE(this.exprStmt) },
    ] });
    this.OPTION(() => this.CONSUME(T.Semicolon));
  });

  public forStmt = this.RULE('forStmt', () => {
    this.CONSUME(T.For);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.In);
    this.SUBRULE(this.expression);
    this.SUBRULE(this.body);
  });

  public ifStmt = this.RULE('ifStmt', () => {
    this.CONSUME(T.If);
    this.SUBRULE(this.expression);
    this.SUBRULE(this.body);
    this.OPTION(() => {
      this.CONSUME(T.Else);
      this.OR([{ ALT: () => this.SUBRULE(this.ifStmt) }, { ALT: () => this.SUBRULE2(this.body) }]);
    });
  });

  public outputStmt = this.RULE('outputStmt', () => {
    this.CONSUME(T.Output);
    this.SUBRULE(this.expression, { LABEL: 'index' });
    this.CONSUME(T.Equals);
    this.SUBRULE2(this.expression, { LABEL: 'value' });
  });

  public assertStmt = this.RULE('assertStmt', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Assert) }, { ALT: () => this.CONSUME(T.Warn) }]);
    this.SUBRULE(this.expression);
    this.CONSUME(T.Comma);
    this.CONSUME(T.StringLiteral);
  });

  public returnStmt = this.RULE('returnStmt', () => {
    this.CONSUME(T.Return);
    this.SUBRULE(this.expression);
  });

  public hintStmt = this.RULE('hintStmt', () => {
    this.CONSUME(T.Hint);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  public exprStmt = this.RULE('exprStmt', () => {
    this.SUBRULE(this.expression, { LABEL: 'target' });
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE2(this.expression, { LABEL: 'value' });
    });
  });

  public expression = this.RULE('expression', () => {
    this.SUBRULE(this.orExpr, { LABEL: 'operands' });
    this.MANY(() => {
      this.CONSUME(T.Coalesce);
      this.SUBRULE2(this.orExpr, { LABEL: 'operands' });
    });
  });

  public orExpr = this.RULE('orExpr', () => {
    this.SUBRULE(this.andExpr, { LABEL: 'operands' });
    this.MANY(() => {
      this.CONSUME(T.Or);
      this.SUBRULE2(this.andExpr, { LABEL: 'operands' });
    });
  });

  public andExpr = this.RULE('andExpr', () => {
    this.SUBRULE(this.notExpr, { LABEL: 'operands' });
    this.MANY(() => {
      this.CONSUME(T.And);
      this.SUBRULE2(this.notExpr, { LABEL: 'operands' });
    });
  });

  public notExpr = this.RULE('notExpr', () => {
    this.OR([
      { ALT: () => { this.CONSUME(T.Not); this.SUBRULE(this.notExpr); } },
      { ALT: () => this.SUBRULE(this.comparison) },
    ]);
  });

  public comparison = this.RULE('comparison', () => {
    this.SUBRULE(this.rangeExpr, { LABEL: 'operands' });
    this.OPTION(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.EqEq, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.NotEq, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.LessEq, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.GreaterEq, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.Less, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.Greater, { LABEL: 'op' }) },
      ]);
      this.SUBRULE2(this.rangeExpr, { LABEL: 'operands' });
    });
  });

  public rangeExpr = this.RULE('rangeExpr', () => {
    this.SUBRULE(this.additive, { LABEL: 'operands' });
    this.OPTION(() => {
      this.CONSUME(T.DotDot);
      this.SUBRULE2(this.additive, { LABEL: 'operands' });
    });
  });

  public additive = this.RULE('additive', () => {
    this.SUBRULE(this.multiplicative, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus, { LABEL: 'op' }) }, { ALT: () => this.CONSUME(T.Minus, { LABEL: 'op' }) }]);
      this.SUBRULE2(this.multiplicative, { LABEL: 'operands' });
    });
  });

  public multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.SlashSlash, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.Slash, { LABEL: 'op' }) },
        { ALT: () => this.CONSUME(T.Percent, { LABEL: 'op' }) },
      ]);
      this.SUBRULE2(this.unary, { LABEL: 'operands' });
    });
  });

  public unary = this.RULE('unary', () => {
    this.OR([
      { ALT: () => { this.CONSUME(T.Minus); this.SUBRULE(this.unary); } },
      { ALT: () => this.SUBRULE(this.power) },
    ]);
  });

  public power = this.RULE('power', () => {
    this.SUBRULE(this.postfix);
    this.OPTION(() => {
      this.CONSUME(T.StarStar);
      this.SUBRULE(this.unary);
    });
  });

  public postfix = this.RULE('postfix', () => {
    this.SUBRULE(this.primary);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.indexSuffix) },
        { ALT: () => this.SUBRULE(this.callSuffix) },
      ]);
    });
    this.OPTION(() => {
      this.CONSUME(T.As);
      this.CONSUME(T.StringLiteral, { LABEL: 'scope' });
    });
  });

  public indexSuffix = this.RULE('indexSuffix', () => {
    this.CONSUME(T.LBracket);
    this.SUBRULE(this.expression);
    this.CONSUME(T.RBracket);
  });

  public callSuffix = this.RULE('callSuffix', () => {
    this.CONSUME(T.LParen);
    this.MANY(() => {
      this.SUBRULE(this.argument);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RParen);
  });

  public argument = this.RULE('argument', () => {
    this.OPTION(() => {
      this.CONSUME(T.Identifier, { LABEL: 'name' });
      this.CONSUME(T.Colon);
    });
    this.SUBRULE(this.expression);
  });

  public primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Int) },
      { ALT: () => this.CONSUME(T.Float) },
      { ALT: () => this.CONSUME(T.StringLiteral) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.CONSUME(T.None) },
      { ALT: () => this.CONSUME(T.Identifier) },
      { ALT: () => this.SUBRULE(this.parenExpr) },
      { ALT: () => this.SUBRULE(this.listExpr) },
      { ALT: () => this.SUBRULE(this.ifExpr) },
      { ALT: () => this.SUBRULE(this.repeatExpr) },
    ]);
  });

  public parenExpr = this.RULE('parenExpr', () => {
    this.CONSUME(T.LParen);
    this.SUBRULE(this.expression);
    this.CONSUME(T.RParen);
  });

  public listExpr = this.RULE('listExpr', () => {
    this.CONSUME(T.LBracket);
    this.MANY(() => {
      this.SUBRULE(this.expression);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RBracket);
  });

  public ifExpr = this.RULE('ifExpr', () => {
    this.CONSUME(T.If);
    this.SUBRULE(this.expression, { LABEL: 'condition' });
    this.CONSUME(T.Then);
    this.SUBRULE2(this.expression, { LABEL: 'then' });
    this.CONSUME(T.Else);
    this.SUBRULE3(this.expression, { LABEL: 'otherwise' });
  });

  /** `repeat N block(x, ...)`: apply the block N times, each output feeding the next. */
  public repeatExpr = this.RULE('repeatExpr', () => {
    this.CONSUME(T.Repeat);
    this.SUBRULE(this.primary, { LABEL: 'count' });
    this.MANY(() => this.SUBRULE(this.indexSuffix));
    this.CONSUME(T.Identifier, { LABEL: 'callee' });
    this.SUBRULE(this.callSuffix);
  });
}

/** One parser instance, reset per input (Chevrotain's performance advice). */
export const parser = new MnxParser();

/** Deepest bracket nesting the parser accepts: deeper input is refused before parsing (no stack overflow, no hang). */
export const MAX_NESTING = 64;

export interface ParseResult {
  cst: CstNode | null;
  /** The token at which nesting exceeded MAX_NESTING, when it did (then nothing was parsed). */
  tooDeep: IToken | null;
  lexErrors: ILexingError[];
  /** Tokens in the `errors` group: unterminated strings and comments. */
  badTokens: IToken[];
  parseErrors: IRecognitionException[];
}

export function parseText(text: string, rule: 'file' | 'expression' = 'file'): ParseResult {
  const lexed = T.mnxLexer.tokenize(text);
  let depth = 0;
  for (const t of lexed.tokens) {
    const n = t.tokenType.name;
    if (n === 'LParen' || n === 'LBracket' || n === 'LCurly') depth++;
    else if (n === 'RParen' || n === 'RBracket' || n === 'RCurly') depth = Math.max(0, depth - 1);
    if (depth > MAX_NESTING) return { cst: null, tooDeep: t, lexErrors: lexed.errors, badTokens: (lexed.groups.errors as IToken[] | undefined) ?? [], parseErrors: [] };
  }
  parser.input = lexed.tokens;
  let cst: CstNode;
  try {
    cst = rule === 'file' ? parser.file() : parser.expression();
  } catch (e) {
    // Defence in depth: the nesting limit keeps the recursive-descent parser's stack bounded.
    if (e instanceof RangeError) return { cst: null, tooDeep: lexed.tokens[0] ?? null, lexErrors: lexed.errors, badTokens: [], parseErrors: [] };
    throw e;
  }
  const parseErrors = [...parser.errors];
  return { cst, tooDeep: null, lexErrors: lexed.errors, badTokens: (lexed.groups.errors as IToken[] | undefined) ?? [], parseErrors };
}
