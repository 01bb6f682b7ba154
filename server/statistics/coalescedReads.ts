/**
 * Identical statistics reads that arrive while one is running share the next one, started after they all
 * arrived (so each caller still sees every write it made before asking): five tabs polling the summary cost
 * at most two queries at a time instead of five.
 */
export class CoalescedReads<T> {
  private readonly slots = new Map<string, { current?: Promise<T>; next?: Promise<T> }>();

  run(key: string, read: () => Promise<T>): Promise<T> {
    const slot = this.slots.get(key);
    if (!slot?.current) return this.start(key, read);
    if (slot.next) return slot.next;
    const ignore = () => undefined;
    const next = slot.current.then(ignore, ignore).then(() => {
      slot.next = undefined;
      return this.start(key, read);
    });
    slot.next = next;
    return next;
  }

  private start(key: string, read: () => Promise<T>): Promise<T> {
    let slot = this.slots.get(key);
    if (!slot) this.slots.set(key, (slot = {}));
    const owner = slot;
    const current: Promise<T> = read().finally(() => {
      if (owner.current === current) owner.current = undefined;
      if (!owner.current && !owner.next && this.slots.get(key) === owner) this.slots.delete(key);
    });
    owner.current = current;
    return current;
  }
}
