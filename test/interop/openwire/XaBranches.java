import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.jms.Message;
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
      case "xa-join": join(); break;
      case "xa-prepared-rollback": preparedRollback(); break;
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

  /**
   * A consume-and-forward branch that the transaction manager prepares and then rolls back (another
   * resource voted no), on a consumer that stays open; a second branch on it then takes the same
   * messages and commits. Prints what each branch received (a redelivered one marked "r"); then rolls
   * back, through another connection, a branch prepared by a connection closed since; and prints what
   * the output queue and the input queue hold.
   */
  private void preparedRollback() throws Exception {
    String name = d.required("queue");
    List<Object> line = new ArrayList<>(List.of("event", "xa-prepared-rollback"));
    try (JmsDriver.Conn plain = d.connect()) {
      Session ps = JmsDriver.session(plain, Session.AUTO_ACKNOWLEDGE);
      Queue in = ps.createQueue(name + ".in");
      Queue out = ps.createQueue(name + ".out");
      JmsDriver.sendTexts(ps, in, "m", d.count());
      XAConnection c = Recovery.xaConnect(d);
      XASession xs = c.createXASession();
      XAResource xa = xs.getXAResource();
      Session s = xs.getSession();
      MessageConsumer input = s.createConsumer(in);
      MessageProducer output = s.createProducer(out);
      for (String outcome : new String[] {"rollback", "commit"}) {
        Xid xid = xid(outcome);
        xa.start(xid, XAResource.TMNOFLAGS);
        // the client redelivers what a rollback gave back after its redelivery delay: wait for all,
        // then for anything more
        List<Message> received = d.receive(input, d.count());
        received.addAll(d.drain(input));
        List<Object> got = new ArrayList<>();
        for (Message m : received) {
          String body = (String) Messages.body(m);
          got.add(body + (m.getJMSRedelivered() ? "r" : ""));
          output.send(s.createTextMessage(body));
        }
        xa.end(xid, XAResource.TMSUCCESS);
        line.add(outcome + "Vote");
        line.add(outcome(() -> xa.prepare(xid)));
        line.add(outcome + "Answer");
        line.add(outcome(() -> {
          if (outcome.equals("commit")) xa.commit(xid, false);
          else xa.rollback(xid);
          return null;
        }));
        line.add(outcome);
        line.add(got);
      }
      // a branch whose connection has closed by the time it rolls back: its messages are the queue's again
      JmsDriver.sendTexts(ps, in, "n", 2);
      Xid closed = xid("closed");
      xa.start(closed, XAResource.TMNOFLAGS);
      d.receive(input, 2);
      xa.end(closed, XAResource.TMSUCCESS);
      xa.prepare(closed);
      c.close();
      XAConnection manager = Recovery.xaConnect(d);
      line.add("closedAnswer");
      line.add(outcome(() -> { manager.createXASession().getXAResource().rollback(closed); return null; }));
      manager.close();
      line.add("output");
      line.add(JmsDriver.bodies(d.drain(ps.createConsumer(out))));
      line.add("inputLeft");
      line.add(JmsDriver.bodies(d.drain(ps.createConsumer(in))));
    }
    JmsDriver.emit(line.toArray());
  }

  /**
   * A transaction manager enlisting two connections of one broker in one transaction, as it does when
   * their resources say isSameRM: the first starts it and sends; the second joins (TMJOIN), consumes
   * and sends; both end, and one of them completes it for both: the first in two phases or in one,
   * the second preparing and the first committing, or the first after the second has closed. Prints,
   * for each, what the second consumed and what the output queue got; then what is left of the input.
   */
  private void join() throws Exception {
    XAConnection c1 = Recovery.xaConnect(d);
    XASession x1 = c1.createXASession();
    XAResource r1 = x1.getXAResource();
    Session s1 = x1.getSession();
    Queue out = s1.createQueue(d.required("queue"));
    Queue in = s1.createQueue(d.required("queue") + ".in");
    List<Object> line = new ArrayList<>(List.of("event", "xa-joined"));
    try (JmsDriver.Conn plain = d.connect()) {
      Session ps = JmsDriver.session(plain, Session.AUTO_ACKNOWLEDGE);
      MessageProducer input = ps.createProducer(in);
      MessageConsumer output = ps.createConsumer(out);
      for (String mode : new String[] {"two-phase", "one-phase", "prepared-by-joiner", "joiner-closed"}) {
        input.send(ps.createTextMessage("input-" + mode));
        XAConnection c2 = Recovery.xaConnect(d);
        XASession x2 = c2.createXASession();
        XAResource r2 = x2.getXAResource();
        if (!r1.isSameRM(r2)) throw new IllegalStateException("two connections of one broker are not the same resource manager");
        MessageConsumer joinerInput = x2.getSession().createConsumer(in);
        Xid xid = xid(mode);
        r1.start(xid, XAResource.TMNOFLAGS);
        s1.createProducer(out).send(s1.createTextMessage(mode + "-from-first"));
        r2.start(xid, XAResource.TMJOIN);
        Message consumed = joinerInput.receive(d.timeout);
        x2.getSession().createProducer(out).send(x2.getSession().createTextMessage(mode + "-from-joiner"));
        r2.end(xid, XAResource.TMSUCCESS);
        r1.end(xid, XAResource.TMSUCCESS);
        if (mode.equals("joiner-closed")) c2.close();
        Object vote = mode.equals("one-phase") ? "none" : (mode.equals("prepared-by-joiner") ? r2 : r1).prepare(xid);
        r1.commit(xid, mode.equals("one-phase"));
        List<Object> got = JmsDriver.bodies(d.drain(output));
        Collections.sort(got, (a, b) -> String.valueOf(a).compareTo(String.valueOf(b)));
        Map<String, Object> outcome = new LinkedHashMap<>();
        outcome.put("consumed", consumed == null ? null : Messages.body(consumed));
        outcome.put("vote", vote);
        outcome.put("output", got);
        line.add(mode);
        line.add(outcome);
        // what the second consumed in a committed transaction is gone for good, whatever becomes of it
        if (!mode.equals("joiner-closed")) c2.close();
      }
      line.add("inputLeft");
      line.add(JmsDriver.bodies(d.drain(ps.createConsumer(in))));
    }
    c1.close();
    JmsDriver.emit(line.toArray());
  }
}
