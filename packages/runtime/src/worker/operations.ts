/** Names of the methods of `model` that may be called as operations (own and inherited, not Object's). */
export function operationNames(model: object): string[] {
  const names = new Set<string>();
  for (let proto: object | null = model; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === "constructor") continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, key);
      if (descriptor !== undefined && typeof descriptor.value === "function") names.add(key);
    }
  }
  return [...names];
}
