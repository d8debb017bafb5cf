import java.util.LinkedHashMap;
import java.util.Map;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.Queue;
import javax.jms.Session;
import javax.jms.XAConnection;
import javax.jms.XASession;
import javax.transaction.xa.XAException;
import javax.transaction.xa.XAResource;
import javax.transaction.xa.Xid;

/** XA as a transaction manager drives it: what each call answers, errors included. */
final class XaBranches {
  private final JmsDriver d;

  XaBranches(JmsDriver driver) {
    this.d = driver;
  }

  void run(String command) throws Exception {
    switch (command) {
      case "xa-errors": errors(); break;
      default: throw new IllegalArgumentException("unknown command " + command);
    }
  }

  interface XaCall {
    Object call() throws Exception;
  }

  /** What the call returned ("ok" for nothing), or the XAException's error code it threw. */
  static Object outcome(XaCall call) throws Exception {
    try {
      Object result = call.call();
      return result == null ? "ok" : result;
    } catch (XAException e) {
      return e.errorCode;
    }
  }

  private Xid xid(String name) {
    return new Recovery.SimpleXid(Recovery.FORMAT_ID, JmsDriver.utf8(d.required("gtrid") + "-" + name), JmsDriver.utf8("branch"));
  }

  /**
   * Every answer a transaction manager can meet completing a branch: commit and rollback of a Xid
   * never begun or already over, a second-phase commit without a prepare, a one-phase commit of a
   * prepared branch, and the prepare of a branch that did nothing. Prints each outcome by name.
   */
  private void errors() throws Exception {
    XAConnection c = Recovery.xaConnect(d);
    XASession xs = c.createXASession();
    XAResource xa = xs.getXAResource();
    Session s = xs.getSession();
    Queue q = s.createQueue(d.required("queue"));
    MessageProducer p = s.createProducer(q);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("commitUnknown", outcome(() -> { xa.commit(xid("unknown-1"), false); return null; }));
    out.put("commitOnePhaseUnknown", outcome(() -> { xa.commit(xid("unknown-2"), true); return null; }));
    out.put("rollbackUnknown", outcome(() -> { xa.rollback(xid("unknown-3")); return null; }));

    Xid committed = xid("committed");
    xa.start(committed, XAResource.TMNOFLAGS);
    p.send(s.createTextMessage("committed"));
    xa.end(committed, XAResource.TMSUCCESS);
    out.put("prepare", outcome(() -> xa.prepare(committed)));
    out.put("commit", outcome(() -> { xa.commit(committed, false); return null; }));
    out.put("commitAgain", outcome(() -> { xa.commit(committed, false); return null; }));
    out.put("rollbackAfterCommit", outcome(() -> { xa.rollback(committed); return null; }));

    Xid rolledBack = xid("rolled-back");
    xa.start(rolledBack, XAResource.TMNOFLAGS);
    p.send(s.createTextMessage("rolled-back"));
    xa.end(rolledBack, XAResource.TMSUCCESS);
    out.put("rollback", outcome(() -> { xa.rollback(rolledBack); return null; }));
    out.put("rollbackAgain", outcome(() -> { xa.rollback(rolledBack); return null; }));
    out.put("commitAfterRollback", outcome(() -> { xa.commit(rolledBack, false); return null; }));

    Xid unprepared = xid("unprepared");
    xa.start(unprepared, XAResource.TMNOFLAGS);
    p.send(s.createTextMessage("unprepared"));
    xa.end(unprepared, XAResource.TMSUCCESS);
    out.put("secondPhaseWithoutPrepare", outcome(() -> { xa.commit(unprepared, false); return null; }));
    out.put("rollbackUnprepared", outcome(() -> { xa.rollback(unprepared); return null; }));

    Xid onePhase = xid("one-phase");
    xa.start(onePhase, XAResource.TMNOFLAGS);
    p.send(s.createTextMessage("one-phase"));
    xa.end(onePhase, XAResource.TMSUCCESS);
    out.put("prepareOnePhase", outcome(() -> xa.prepare(onePhase)));
    out.put("onePhaseCommitOfPrepared", outcome(() -> { xa.commit(onePhase, true); return null; }));

    Xid empty = xid("empty");
    xa.start(empty, XAResource.TMNOFLAGS);
    xa.end(empty, XAResource.TMSUCCESS);
    out.put("prepareEmpty", outcome(() -> xa.prepare(empty)));
    out.put("commitAfterReadOnly", outcome(() -> { xa.commit(empty, false); return null; }));

    try (JmsDriver.Conn watcher = d.connect()) {
      Session ws = JmsDriver.session(watcher, Session.AUTO_ACKNOWLEDGE);
      MessageConsumer consumer = ws.createConsumer(q);
      out.put("received", JmsDriver.bodies(d.drain(consumer)));
    }
    c.close();
    Object[] line = new Object[2 + 2 * out.size()];
    line[0] = "event";
    line[1] = "xa-answers";
    int i = 2;
    for (Map.Entry<String, Object> e : out.entrySet()) {
      line[i++] = e.getKey();
      line[i++] = e.getValue();
    }
    JmsDriver.emit(line);
  }
}
