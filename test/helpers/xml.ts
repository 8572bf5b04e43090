// A strict little XML well-formedness checker for the SVG tests: one root element, every tag closed in order,
// names valid, attributes quoted and unique, only the five predefined entities (or numeric ones) in text and
// attribute values, no stray '<' or '&'. Returns the element tree so tests can check structure.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*/;

function decode(s: string, where: number): string {
  if (s.includes('<')) throw new Error(`'<' in text or attribute value near ${where}`);
  return s.replace(/&([^;]*);?/g, (m, body: string) => {
    if (!m.endsWith(';')) throw new Error(`unterminated entity near ${where}`);
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (named[body] !== undefined) return named[body]!;
    if (/^#[0-9]+$/.test(body)) return String.fromCodePoint(Number(body.slice(1)));
    if (/^#x[0-9a-fA-F]+$/.test(body)) return String.fromCodePoint(parseInt(body.slice(2), 16));
    throw new Error(`unknown entity &${body}; near ${where}`);
  });
}

export function parseXml(text: string): XmlElement {
  let i = 0;
  if (text.startsWith('<?xml')) {
    const end = text.indexOf('?>');
    if (end < 0) throw new Error('unterminated XML declaration');
    i = end + 2;
  }
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = lt < 0 ? text.slice(i) : text.slice(i, lt);
    if (chunk.trim() !== '') {
      if (stack.length === 0) throw new Error(`text outside the root element near ${i}`);
      stack[stack.length - 1]!.text += decode(chunk, i);
    }
    if (lt < 0) break;
    i = lt;
    if (text.startsWith('</', i)) {
      const m = NAME.exec(text.slice(i + 2));
      if (!m) throw new Error(`bad closing tag near ${i}`);
      const close = text.indexOf('>', i);
      if (text.slice(i + 2 + m[0].length, close).trim() !== '') throw new Error(`junk in closing tag near ${i}`);
      const open = stack.pop();
      if (!open || open.name !== m[0]) throw new Error(`</${m[0]}> closes <${open?.name ?? 'nothing'}> near ${i}`);
      i = close + 1;
      continue;
    }
    const m = NAME.exec(text.slice(i + 1));
    if (!m) throw new Error(`bad tag near ${i}`);
    const el: XmlElement = { name: m[0], attrs: {}, children: [], text: '' };
    i += 1 + m[0].length;
    for (;;) {
      const ws = /^\s*/.exec(text.slice(i))![0];
      i += ws.length;
      if (text.startsWith('/>', i)) {
        i += 2;
        break;
      }
      if (text[i] === '>') {
        i += 1;
        stack.push(el);
        break;
      }
      if (ws === '') throw new Error(`attributes must be separated by whitespace near ${i}`);
      const a = /^([A-Za-z_][A-Za-z0-9_.:-]*)="([^"]*)"/.exec(text.slice(i));
      if (!a) throw new Error(`bad attribute near ${i}: ${text.slice(i, i + 30)}`);
      if (a[1]! in el.attrs) throw new Error(`duplicate attribute ${a[1]} near ${i}`);
      el.attrs[a[1]!] = decode(a[2]!, i);
      i += a[0].length;
    }
    if (stack.length > (stack[stack.length - 1] === el ? 1 : 0)) {
      const parent = stack[stack.length - 1] === el ? stack[stack.length - 2]! : stack[stack.length - 1]!;
      parent.children.push(el);
    } else {
      if (root) throw new Error('more than one root element');
      root = el;
    }
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (!root) throw new Error('no root element');
  return root;
}

/** Every element of the tree (depth first). */
export function allElements(e: XmlElement): XmlElement[] {
  return [e, ...e.children.flatMap(allElements)];
}
