// Named checks with a closing summary line; the process exit code says whether all passed.
export class Report {
  constructor(title) { this.title = title; this.passed = 0; this.failed = 0; }
  check(name, ok, details = '') {
    if (ok) this.passed++;
    else { this.failed++; console.log(`FAIL ${name}${details ? `\n     ${details}` : ''}`); }
    return ok;
  }
  note(line) { console.log(line); }
  finish() {
    console.log(`${this.title}: ${this.passed} passed, ${this.failed} failed`);
    process.exitCode = this.failed === 0 && this.passed > 0 ? 0 : 1;
  }
}

// Uncaught errors end the test as a failure with the message, not a stack-less exit.
export function failOnUncaught(title) {
  const die = (e) => { console.log(`${title}: error: ${e?.stack || e}`); process.exit(1); };
  process.on('uncaughtException', die);
  process.on('unhandledRejection', die);
}
