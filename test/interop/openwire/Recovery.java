import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.jms.Connection;
import javax.jms.DeliveryMode;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.Queue;
import javax.jms.Session;
import javax.jms.TextMessage;
import javax.jms.XAConnection;
import javax.jms.XASession;
import javax.transaction.xa.XAResource;
import javax.transaction.xa.Xid;
import org.apache.activemq.ActiveMQXAConnectionFactory;

/** Scenarios that outlive a process or a broker: XA prepare and recovery, failover, and login. */
final class Recovery {
  private final JmsDriver d;

  Recovery(JmsDriver driver) {
    this.d = driver;
  }

  void run(String command) throws Exception {
    switch (command) {
      case "xa-prepare": xaPrepare(); break;
      case "xa-recover": xaRecover(); break;
      case "failover-produce": failoverProduce(); break;
      case "failover-consume": failoverConsume(); break;
      case "login": login(); break;
      default: new XaBranches(d).run(command);
    }
  }

  static final int FORMAT_ID = 0x4665; // "Fe"

  static final class SimpleXid implements Xid {
    private final byte[] gtrid;
    private final byte[] bqual;
    private final int formatId;

    SimpleXid(int formatId, byte[] gtrid, byte[] bqual) {
      this.formatId = formatId;
      this.gtrid = gtrid;
      this.bqual = bqual;
    }

    @Override public int getFormatId() { return formatId; }
    @Override public byte[] getGlobalTransactionId() { return gtrid.clone(); }
    @Override public byte[] getBranchQualifier() { return bqual.clone(); }
  }

  private XAConnection xaConnect() throws Exception {
    return xaConnect(d);
  }

  static XAConnection xaConnect(JmsDriver d) throws Exception {
    ActiveMQXAConnectionFactory f = new ActiveMQXAConnectionFactory(d.url);
    d.configure(f);
    XAConnection c = f.createXAConnection();
    c.start();
    return c;
  }

  private static Map<String, Object> describe(Xid xid) {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("formatId", xid.getFormatId());
    out.put("gtrid", new String(xid.getGlobalTransactionId(), StandardCharsets.UTF_8));
    out.put("bqual", new String(xid.getBranchQualifier(), StandardCharsets.UTF_8));
    return out;
  }

  /** start, send `--count` messages, end, prepare, and exit with the branch in doubt. */
  private void xaPrepare() throws Exception {
    String gtrid = d.required("gtrid");
    Xid xid = new SimpleXid(FORMAT_ID, JmsDriver.utf8(gtrid), JmsDriver.utf8("branch-1"));
    XAConnection c = xaConnect();
    XASession xs = c.createXASession();
    XAResource xa = xs.getXAResource();
    xa.start(xid, XAResource.TMNOFLAGS);
    Session s = xs.getSession();
    Queue q = s.createQueue(d.required("queue"));
    List<String> sent = JmsDriver.sendTexts(s, q, gtrid + "-", d.count());
    xa.end(xid, XAResource.TMSUCCESS);
    int vote = xa.prepare(xid);
    try (JmsDriver.Conn watcher = d.connect()) {
      Session ws = JmsDriver.session(watcher, Session.AUTO_ACKNOWLEDGE);
      JmsDriver.emit("event", "prepared", "xid", describe(xid), "vote", vote == XAResource.XA_OK ? "XA_OK" : "XA_RDONLY", "sent", sent,
          "visibleBeforeCommit", JmsDriver.bodies(d.drain(ws.createConsumer(q))));
    }
    // leave the branch prepared, as a transaction manager that crashed would
    c.close();
  }

  /** Lists the broker's in-doubt branches and commits or rolls back those of `--gtrid`. */
  private void xaRecover() throws Exception {
    String gtrid = d.required("gtrid");
    String outcome = d.required("outcome");
    XAConnection c = xaConnect();
    XAResource xa = c.createXASession().getXAResource();
    Xid[] inDoubt = xa.recover(XAResource.TMSTARTRSCAN | XAResource.TMENDRSCAN);
    List<Object> listed = new ArrayList<>();
    int resolved = 0;
    for (Xid xid : inDoubt) {
      listed.add(describe(xid));
      if (xid.getFormatId() == FORMAT_ID && Arrays.equals(xid.getGlobalTransactionId(), JmsDriver.utf8(gtrid))) {
        if (outcome.equals("commit")) xa.commit(xid, false);
        else xa.rollback(xid);
        resolved++;
      }
    }
    Xid[] after = xa.recover(XAResource.TMSTARTRSCAN | XAResource.TMENDRSCAN);
    List<Object> left = new ArrayList<>();
    for (Xid xid : after) left.add(describe(xid));
    JmsDriver.emit("event", "recovered", "inDoubt", listed, "resolved", resolved, "outcome", outcome, "inDoubtAfter", left);
    c.close();
  }

  /**
   * Holds a run to `rate` messages a second (0: as fast as it goes), so that a test has time to
   * kill the broker while messages are still in flight.
   */
  static final class Pacer {
    private final int rate;
    private final long start = System.nanoTime();

    Pacer(int rate) {
      this.rate = rate;
    }

    void pace(int done) throws InterruptedException {
      if (rate <= 0) return;
      long dueNs = start + done * 1_000_000_000L / rate;
      long waitMs = (dueNs - System.nanoTime()) / 1_000_000;
      if (waitMs > 0) Thread.sleep(waitMs);
    }
  }

  /** Numbered persistent messages through a failover: URL, progress printed as they are sent. */
  private void failoverProduce() throws Exception {
    int n = d.count();
    int every = Integer.parseInt(d.opt("progress", "50"));
    Pacer pacer = new Pacer(Integer.parseInt(d.opt("rate", "0")));
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      MessageProducer p = s.createProducer(s.createQueue(d.required("queue")));
      p.setDeliveryMode(DeliveryMode.PERSISTENT);
      for (int i = 0; i < n; i++) {
        TextMessage m = s.createTextMessage("n" + i);
        m.setIntProperty("n", i);
        p.send(m);
        if ((i + 1) % every == 0) JmsDriver.emit("event", "progress", "sent", i + 1);
        pacer.pace(i + 1);
      }
      JmsDriver.emit("event", "produced", "sent", n);
    }
  }

  /**
   * Receives until `--count` distinct numbers have arrived, printing progress, then waits `quiet`
   * ms for stragglers; every number seen twice is reported, so the test sees duplicates too.
   */
  private void failoverConsume() throws Exception {
    int n = d.count();
    int every = Integer.parseInt(d.opt("progress", "50"));
    Pacer pacer = new Pacer(Integer.parseInt(d.opt("rate", "0")));
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, JmsDriver.ackMode(d.opt("ack", "auto")));
      MessageConsumer consumer = s.createConsumer(s.createQueue(d.required("queue")));
      Set<Integer> seen = new HashSet<>();
      List<Object> duplicates = new ArrayList<>();
      int received = 0;
      int redelivered = 0;
      while (seen.size() < n) {
        Message m = consumer.receive(d.timeout);
        if (m == null) throw new IllegalStateException("received " + seen.size() + " of " + n + " distinct messages, then nothing for " + d.timeout + " ms");
        received++;
        if (m.getJMSRedelivered()) redelivered++;
        if (!seen.add(m.getIntProperty("n"))) duplicates.add(m.getIntProperty("n"));
        if (s.getTransacted()) s.commit();
        if (received % every == 0) JmsDriver.emit("event", "progress", "received", received);
        pacer.pace(received);
      }
      for (Message m : d.drain(consumer)) {
        received++;
        if (!seen.add(m.getIntProperty("n"))) duplicates.add(m.getIntProperty("n"));
        if (s.getTransacted()) s.commit();
      }
      JmsDriver.emit("event", "consumed", "received", received, "distinct", seen.size(), "duplicates", duplicates, "redelivered", redelivered,
          "outOfRange", seen.stream().filter(x -> x < 0 || x >= n).count());
    }
  }

  /** Connects with --user/--password; a refusal is the error line main prints. */
  private void login() throws Exception {
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(d.opt("queue", "interop.login"));
      JmsDriver.sendTexts(s, q, "hello", 1);
      JmsDriver.emit("event", "logged-in", "received", JmsDriver.bodies(d.receive(s.createConsumer(q), 1)));
    }
  }
}
