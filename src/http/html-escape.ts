// Escaping for text put into HTML (pages and attributes alike): the five characters that can end
// a text run or an attribute value become numeric character references.
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
