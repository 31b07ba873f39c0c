/** Escaping for the HTML report: every text that reaches the page goes through here. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export const esc = (value: unknown): string => escapeHtml(String(value));

/** At most four significant digits, no trailing zeros: 0.1235, 12.35, 1235, 12350. */
export const trim = (x: number): string => String(Number(x.toPrecision(4)));
