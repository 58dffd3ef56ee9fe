// Routing from the contract: a table built once at start. A request costs a map lookup (paths without
// parameters) or a walk down one segment tree, whatever the number of operations.

export type RouteMatch<T> =
  | { kind: 'operation'; operation: T; params: Record<string, string> }
  /** The path exists, but not with this method. */
  | { kind: 'method'; allowed: string[] }
  | { kind: 'none' };

interface Node<T> {
  literal: Map<string, Node<T>>;
  /** The `{name}` child, when the path has a parameter at this depth. */
  parameter?: { name: string; node: Node<T> };
  byMethod: Map<string, T>;
}

const newNode = <T>(): Node<T> => ({ literal: new Map(), byMethod: new Map() });

export interface Router<T> {
  match(method: string, path: string): RouteMatch<T>;
}

export function createRouter<T extends { method: string; path: string }>(operations: readonly T[]): Router<T> {
  const root = newNode<T>();
  // Paths without parameters: one lookup by the whole path.
  const exact = new Map<string, Node<T>>();
  for (const operation of operations) {
    let node = root;
    for (const segment of operation.path.split('/').slice(1)) {
      const name = /^\{([^}]+)\}$/.exec(segment)?.[1];
      if (name) {
        if (node.parameter && node.parameter.name !== name) {
          throw new Error(`${operation.path}: {${name}} and {${node.parameter.name}} at the same place of two paths.`);
        }
        node.parameter ??= { name, node: newNode() };
        node = node.parameter.node;
      } else {
        let next = node.literal.get(segment);
        if (!next) node.literal.set(segment, (next = newNode()));
        node = next;
      }
    }
    if (node.byMethod.has(operation.method)) throw new Error(`${operation.method} ${operation.path} is declared twice.`);
    node.byMethod.set(operation.method, operation);
    if (!operation.path.includes('{')) exact.set(operation.path, node);
  }

  return {
    match(method, rawPath) {
      // Trailing slashes are ignored: `/v1/plans/` is `/v1/plans`.
      let path = rawPath;
      while (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
      const direct = exact.get(path);
      const operation = direct?.byMethod.get(method);
      if (operation) return { kind: 'operation', operation, params: {} };
      // Every node the path reaches, literals before parameters: the first that has the method wins
      // (`PATCH /employees/import` is updateEmployee with employeeId "import"); else the path exists
      // with other methods, or not at all.
      const reached: Reached<T>[] = [];
      walk(root, path.split('/'), 1, {}, reached);
      const found = reached.find((candidate) => candidate.node.byMethod.has(method));
      if (found) return { kind: 'operation', operation: found.node.byMethod.get(method)!, params: found.params };
      if (reached.length === 0) return { kind: 'none' };
      return { kind: 'method', allowed: [...reached[0]!.node.byMethod.keys()] };
    },
  };
}

interface Reached<T> {
  node: Node<T>;
  params: Record<string, string>;
}

/** Collects the operation nodes `segments` reach from `node`, literal segments before parameters. */
function walk<T>(node: Node<T>, segments: string[], index: number, params: Record<string, string>, reached: Reached<T>[]): void {
  if (index === segments.length) {
    if (node.byMethod.size > 0) reached.push({ node, params });
    return;
  }
  const segment = segments[index]!;
  const literal = node.literal.get(segment);
  if (literal) walk(literal, segments, index + 1, params, reached);
  if (node.parameter && segment !== '') {
    walk(node.parameter.node, segments, index + 1, { ...params, [node.parameter.name]: decodeURIComponent(segment) }, reached);
  }
}
