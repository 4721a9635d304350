/** Something setup needs is missing or wrong; the message says what and how to get it. */
export class SetupError extends Error {}
