import { createToken, Lexer, type TokenType } from 'chevrotain';

/**
 * Tokens of the .mnx language. Newlines are insignificant; `//` and `/* *\/` are comments.
 * Keywords take `longer_alt: Identifier` so that `models` or `format` stay identifiers.
 */
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

function keyword(word: string): TokenType {
  return createToken({ name: word[0]!.toUpperCase() + word.slice(1), pattern: new RegExp(word), longer_alt: Identifier, label: `'${word}'` });
}

export const Model = keyword('model');
export const Import = keyword('import');
export const Scaling = keyword('scaling');
export const Variant = keyword('variant');
export const With = keyword('with');
export const For = keyword('for');
export const In = keyword('in');
export const If = keyword('if');
export const Then = keyword('then');
export const Else = keyword('else');
export const Output = keyword('output');
export const Repeat = keyword('repeat');
export const As = keyword('as');
export const Assert = keyword('assert');
export const Warn = keyword('warn');
export const Hint = keyword('hint');
export const Block = keyword('block');
export const Return = keyword('return');
export const True = keyword('true');
export const False = keyword('false');
export const None = keyword('none');
export const And = keyword('and');
export const Or = keyword('or');
export const Not = keyword('not');

export const Float = createToken({ name: 'Float', pattern: /\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+/, label: 'number' });
export const Int = createToken({ name: 'Int', pattern: /\d+/, longer_alt: Float, label: 'integer' });
export const StringLiteral = createToken({ name: 'StringLiteral', pattern: /"(?:[^"\\\n\r]|\\.)*"/, label: 'string' });
/** A string that reaches the end of its line: reported as MNX1003 instead of a cascade. */
export const UnterminatedString = createToken({ name: 'UnterminatedString', pattern: /"(?:[^"\\\n\r]|\\.)*/, group: 'errors' });

export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const LCurly = createToken({ name: 'LCurly', pattern: /\{/, label: "'{'" });
export const RCurly = createToken({ name: 'RCurly', pattern: /\}/, label: "'}'" });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: /\]/, label: "']'" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
export const Semicolon = createToken({ name: 'Semicolon', pattern: /;/, label: "';'" });
export const Colon = createToken({ name: 'Colon', pattern: /:/, label: "':'" });
export const EqEq = createToken({ name: 'EqEq', pattern: /==/, label: "'=='" });
export const NotEq = createToken({ name: 'NotEq', pattern: /!=/, label: "'!='" });
export const LessEq = createToken({ name: 'LessEq', pattern: /<=/, label: "'<='" });
export const GreaterEq = createToken({ name: 'GreaterEq', pattern: />=/, label: "'>='" });
export const Less = createToken({ name: 'Less', pattern: /</, label: "'<'" });
export const Greater = createToken({ name: 'Greater', pattern: />/, label: "'>'" });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='" });
export const Coalesce = createToken({ name: 'Coalesce', pattern: /\?\?/, label: "'??'" });
export const DotDot = createToken({ name: 'DotDot', pattern: /\.\./, label: "'..'" });
export const Dot = createToken({ name: 'Dot', pattern: /\./, label: "'.'" });
export const Plus = createToken({ name: 'Plus', pattern: /\+/, label: "'+'" });
export const Minus = createToken({ name: 'Minus', pattern: /-/, label: "'-'" });
export const StarStar = createToken({ name: 'StarStar', pattern: /\*\*/, label: "'**'" });
export const Star = createToken({ name: 'Star', pattern: /\*/, label: "'*'" });
export const SlashSlash = createToken({ name: 'SlashSlash', pattern: /\/\//, label: "'//'" });
export const Slash = createToken({ name: 'Slash', pattern: /\//, label: "'/'" });
export const Percent = createToken({ name: 'Percent', pattern: /%/, label: "'%'" });
export const Pipe = createToken({ name: 'Pipe', pattern: /\|/, label: "'|'" });

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n\f\v\uFEFF]+/, group: Lexer.SKIPPED });
/** `# comment` lines (as in Python and YAML: `//` is integer division here). */
export const LineComment = createToken({ name: 'LineComment', pattern: /#[^\n\r]*/, group: Lexer.SKIPPED });
export const BlockComment = createToken({ name: 'BlockComment', pattern: /\/\*[^]*?\*\//, group: Lexer.SKIPPED });
export const UnterminatedComment = createToken({ name: 'UnterminatedComment', pattern: /\/\*[^]*/, group: 'errors' });

export const allTokens: TokenType[] = [
  WhiteSpace, LineComment, BlockComment, UnterminatedComment,
  StringLiteral, UnterminatedString,
  Model, Import, Scaling, Variant, With, For, In, If, Then, Else, Output, Repeat, Assert, As, Warn, Hint, Block, Return,
  True, False, None, And, Or, Not,
  Identifier, Float, Int,
  LParen, RParen, LCurly, RCurly, LBracket, RBracket, Comma, Semicolon, Colon,
  EqEq, NotEq, LessEq, GreaterEq, Less, Greater, Equals, Coalesce, DotDot, Dot,
  Plus, Minus, StarStar, Star, SlashSlash, Slash, Percent, Pipe,
];

export const mnxLexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });
