/**
 * Acts on a silence deadline found passed only once the bytes already waiting in the sockets have
 * been read. When the broker itself stood still (a stopped process, a suspended virtual machine, a
 * long pause of its event loop), every peer's deadline passes during the stall, and as the broker
 * resumes Node runs the due timers before it reads the sockets: the heart-beats the peers kept
 * sending wait unread, and each healthy peer would be taken for dead. An immediate runs after the
 * poll phase has read them, so `stillSilent` then sees what really arrived; ActiveMQ keeps such
 * clients too. `heard`, when given, runs instead of `expired` when something did arrive.
 */
export function confirmSilence(stillSilent: () => boolean, expired: () => void, heard?: () => void): void {
  setImmediate(() => {
    if (stillSilent()) expired();
    else heard?.();
  });
}
