"""Campaign-domain tables: contacts, lists, scripts, campaigns, their recipients, suppressions.

The inbox reads these (see the shared table contract in the campaigns issue); only the campaigns
code writes them, except ``campaign_contacts.state = 'closed'`` and ``steps.advance``.

Decisions kept in the schema:
- ``campaign_contacts`` is the durable per-recipient cursor: which step went out last
  (``step``), whether that step's message is still in the queue (``pending``) and when the next
  one is due (``next_at``). The scheduler feeds the send queue from it a window at a time, so a
  future step or a quiet-hours hold never sits in the queue blocking an agent's reply to the same
  contact (the queue keeps per-recipient order).
- ``campaigns.cursor`` is the last contact id expanded: expansion resumes there after a restart.
- ``campaign_failures`` holds one row per (phone, campaign) whose message failed: the
  auto-unsubscribe rule counts *different campaigns*, not messages.
- ``campaign_stats`` (0002) are exact per-campaign counts maintained by triggers on ``messages``,
  so reports on a 1,000,000-message campaign stay well under a second.
"""

MIGRATIONS = [
    (
        "campaigns-0001",
        """
CREATE TABLE contacts (
  id INTEGER PRIMARY KEY,
  phone TEXT NOT NULL UNIQUE,
  first_name TEXT NOT NULL DEFAULT '',
  last_name TEXT NOT NULL DEFAULT '',
  fields TEXT NOT NULL DEFAULT '{}',
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL
);
CREATE INDEX ix_contacts_first ON contacts(first_name COLLATE NOCASE);
CREATE INDEX ix_contacts_last ON contacts(last_name COLLATE NOCASE);

CREATE TABLE lists (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at REAL NOT NULL
);

CREATE TABLE list_members (
  list_id INTEGER NOT NULL REFERENCES lists(id),
  contact_id INTEGER NOT NULL REFERENCES contacts(id),
  PRIMARY KEY (list_id, contact_id)
) WITHOUT ROWID;
CREATE INDEX ix_members_contact ON list_members(contact_id);

CREATE TABLE scripts (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL CHECK (type IN ('nudge', 'interactive')),
  steps TEXT NOT NULL,
  defaults TEXT NOT NULL DEFAULT '{}',
  created_by TEXT,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL
);

CREATE TABLE campaigns (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  script_id INTEGER REFERENCES scripts(id),
  list_id INTEGER REFERENCES lists(id),
  number TEXT,
  office TEXT NOT NULL DEFAULT 'default',
  operated_by TEXT NOT NULL DEFAULT 'agent' CHECK (operated_by IN ('agent', 'assistant')),
  status TEXT NOT NULL DEFAULT 'draft',
  status_reason TEXT NOT NULL DEFAULT '',
  resume_status TEXT,
  stop_on_reply INTEGER NOT NULL DEFAULT 0,
  tags TEXT NOT NULL DEFAULT '[]',
  schedule_at REAL,
  cron TEXT,
  tz TEXT NOT NULL DEFAULT 'UTC',
  next_run REAL,
  run INTEGER NOT NULL DEFAULT 0,
  generation INTEGER NOT NULL DEFAULT 0,
  cursor INTEGER NOT NULL DEFAULT 0,
  expanded INTEGER NOT NULL DEFAULT 0,
  suppressed INTEGER NOT NULL DEFAULT 0,
  ttl_s REAL,
  quiet_start TEXT,
  quiet_end TEXT,
  variants TEXT NOT NULL DEFAULT '[]',
  defaults TEXT NOT NULL DEFAULT '{}',
  description TEXT NOT NULL DEFAULT '',
  created_by TEXT,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  launched_at REAL,
  last_run_at REAL,
  finished_at REAL
);
CREATE INDEX ix_campaigns_status ON campaigns(status);
CREATE INDEX ix_campaigns_number ON campaigns(number);

CREATE TABLE campaign_contacts (
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
  contact_id INTEGER NOT NULL REFERENCES contacts(id),
  step INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'active',
  pending INTEGER NOT NULL DEFAULT 0,
  next_at REAL,
  variant INTEGER NOT NULL DEFAULT 0,
  replied_at REAL,
  updated_at REAL,
  PRIMARY KEY (campaign_id, contact_id)
) WITHOUT ROWID;
CREATE INDEX ix_cc_due ON campaign_contacts(campaign_id, next_at) WHERE state = 'active' AND pending = 0;
CREATE INDEX ix_cc_active ON campaign_contacts(campaign_id, state);
CREATE INDEX ix_cc_contact ON campaign_contacts(contact_id);

CREATE TABLE suppressions (
  id INTEGER PRIMARY KEY,
  phone TEXT NOT NULL,
  scope TEXT NOT NULL CHECK (scope IN ('campaign', 'number', 'all')),
  campaign_id INTEGER,
  number TEXT,
  reason TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT 'operator',
  created_at REAL NOT NULL,
  created_by TEXT
);
CREATE INDEX ix_supp_phone ON suppressions(phone);
CREATE INDEX ix_supp_campaign ON suppressions(campaign_id) WHERE campaign_id IS NOT NULL;

CREATE TABLE campaign_failures (
  phone TEXT NOT NULL,
  campaign_id INTEGER NOT NULL,
  at REAL NOT NULL,
  PRIMARY KEY (phone, campaign_id)
) WITHOUT ROWID;

-- Reports scan one campaign's range of this covering index instead of the table.
CREATE INDEX ix_msg_campaign_report ON messages(campaign_id, state, contact_id, segments, link, created_at, source)
  WHERE campaign_id IS NOT NULL;
-- Attribution: the latest campaign message from one of our numbers to one contact.
CREATE INDEX ix_msg_pair_campaign ON messages(recipient, sender, id) WHERE campaign_id IS NOT NULL;
CREATE INDEX ix_msg_contact ON messages(contact_id, id) WHERE contact_id IS NOT NULL;
CREATE INDEX ix_inbound_campaign ON inbound(campaign_id, received_at) WHERE campaign_id IS NOT NULL;
""",
    ),
    (
        "campaigns-0002",
        """
-- Per-campaign message and segment counts by (source, state, link), kept exact by triggers like
-- the core's counters: a campaign report reads a few dozen rows instead of a million.
CREATE TABLE campaign_stats (
  campaign_id INTEGER NOT NULL,
  source TEXT NOT NULL,
  state TEXT NOT NULL,
  link TEXT NOT NULL DEFAULT '',
  messages INTEGER NOT NULL DEFAULT 0,
  segments INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (campaign_id, source, state, link)
) WITHOUT ROWID;
INSERT INTO campaign_stats(campaign_id, source, state, link, messages, segments)
  SELECT campaign_id, source, state, coalesce(link, ''), count(*), sum(segments) FROM messages
  WHERE campaign_id IS NOT NULL GROUP BY 1, 2, 3, 4;
CREATE TRIGGER trg_cstats_ins AFTER INSERT ON messages WHEN NEW.campaign_id IS NOT NULL BEGIN
  INSERT INTO campaign_stats(campaign_id, source, state, link, messages, segments)
    VALUES (NEW.campaign_id, NEW.source, NEW.state, coalesce(NEW.link, ''), 1, NEW.segments)
    ON CONFLICT(campaign_id, source, state, link) DO UPDATE SET messages = messages + 1,
      segments = segments + excluded.segments;
END;
CREATE TRIGGER trg_cstats_upd AFTER UPDATE OF state, link ON messages
  WHEN NEW.campaign_id IS NOT NULL AND (OLD.state <> NEW.state OR coalesce(OLD.link, '') <> coalesce(NEW.link, ''))
BEGIN
  UPDATE campaign_stats SET messages = messages - 1, segments = segments - OLD.segments
    WHERE campaign_id = OLD.campaign_id AND source = OLD.source AND state = OLD.state
      AND link = coalesce(OLD.link, '');
  INSERT INTO campaign_stats(campaign_id, source, state, link, messages, segments)
    VALUES (NEW.campaign_id, NEW.source, NEW.state, coalesce(NEW.link, ''), 1, NEW.segments)
    ON CONFLICT(campaign_id, source, state, link) DO UPDATE SET messages = messages + 1,
      segments = segments + excluded.segments;
END;
-- What still needs the rows (distinct contacts, activity over time, agent response times) reads
-- narrower covering indexes.
DROP INDEX IF EXISTS ix_msg_campaign_report;
CREATE INDEX ix_msg_campaign_activity ON messages(campaign_id, state, contact_id, created_at)
  WHERE campaign_id IS NOT NULL;
CREATE INDEX ix_msg_campaign_agent ON messages(campaign_id, recipient, created_at) WHERE source = 'agent';
""",
    ),
    (
        "campaigns-0003",
        """
-- When a campaign first attempted a message to the contact (left the queue): "contacts sent"
-- (seed 004: sent or attempted) becomes a count over a partial index, not a DISTINCT over every
-- message of the campaign.
ALTER TABLE campaign_contacts ADD COLUMN reached_at REAL;
UPDATE campaign_contacts SET reached_at = (
  SELECT min(m.created_at) FROM messages m WHERE m.contact_id = campaign_contacts.contact_id
    AND m.campaign_id = campaign_contacts.campaign_id
    AND m.state IN ('sending', 'sent', 'delivered', 'undelivered', 'failed'));
CREATE INDEX ix_cc_reached ON campaign_contacts(campaign_id, reached_at) WHERE reached_at IS NOT NULL;
CREATE TRIGGER trg_cc_reached AFTER UPDATE OF state ON messages
  WHEN NEW.campaign_id IS NOT NULL AND NEW.contact_id IS NOT NULL
   AND NEW.state IN ('sending', 'sent', 'delivered', 'undelivered', 'failed')
   AND OLD.state NOT IN ('sending', 'sent', 'delivered', 'undelivered', 'failed')
BEGIN
  UPDATE campaign_contacts SET reached_at = NEW.updated_at
    WHERE campaign_id = NEW.campaign_id AND contact_id = NEW.contact_id AND reached_at IS NULL;
END;

-- Contact message activity per UTC hour: outcomes of campaign messages (sent, delivered,
-- undelivered, failed: counted once, when the carrier first answered) and attributed replies.
-- Reports fold hours into days, months or years in the campaign's zone.
CREATE TABLE campaign_activity (
  campaign_id INTEGER NOT NULL,
  hour INTEGER NOT NULL,
  sent INTEGER NOT NULL DEFAULT 0,
  received INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (campaign_id, hour)
) WITHOUT ROWID;
INSERT INTO campaign_activity(campaign_id, hour, sent)
  SELECT campaign_id, CAST(updated_at / 3600 AS INTEGER), count(*) FROM messages
  WHERE campaign_id IS NOT NULL AND state IN ('sent', 'delivered', 'undelivered', 'failed') GROUP BY 1, 2;
INSERT INTO campaign_activity(campaign_id, hour, received)
  SELECT campaign_id, CAST(received_at / 3600 AS INTEGER), count(*) FROM inbound WHERE campaign_id IS NOT NULL
  GROUP BY 1, 2
  ON CONFLICT(campaign_id, hour) DO UPDATE SET received = received + excluded.received;
CREATE TRIGGER trg_activity_sent AFTER UPDATE OF state ON messages
  WHEN NEW.campaign_id IS NOT NULL AND NEW.state IN ('sent', 'delivered', 'undelivered', 'failed')
   AND OLD.state NOT IN ('sent', 'delivered', 'undelivered', 'failed')
BEGIN
  INSERT INTO campaign_activity(campaign_id, hour, sent) VALUES (NEW.campaign_id, CAST(NEW.updated_at / 3600 AS INTEGER), 1)
    ON CONFLICT(campaign_id, hour) DO UPDATE SET sent = sent + 1;
END;
CREATE TRIGGER trg_activity_received AFTER UPDATE OF campaign_id ON inbound
  WHEN NEW.campaign_id IS NOT OLD.campaign_id
BEGIN
  UPDATE campaign_activity SET received = received - 1
    WHERE OLD.campaign_id IS NOT NULL AND campaign_id = OLD.campaign_id
      AND hour = CAST(OLD.received_at / 3600 AS INTEGER);
  INSERT INTO campaign_activity(campaign_id, hour, received)
    SELECT NEW.campaign_id, CAST(NEW.received_at / 3600 AS INTEGER), 1 WHERE NEW.campaign_id IS NOT NULL
    ON CONFLICT(campaign_id, hour) DO UPDATE SET received = received + 1;
END;
""",
    ),
    (
        "campaigns-0004-answer-waits",
        """
-- pending = 2: the recipient's answer to an interactive step is awaited until next_at (issue 18.9).
UPDATE campaign_contacts SET pending = 2, next_at = coalesce(updated_at, 0) + 259200
  WHERE state = 'active' AND pending = 0 AND next_at IS NULL AND step > 0;
CREATE INDEX ix_cc_waiting ON campaign_contacts(campaign_id, next_at) WHERE state = 'active' AND pending = 2;
""",
    ),
    (
        "campaigns-budget-0001",
        """
-- The carrier budget (config [[budgets]]) the campaign's script messages count against, besides
-- the budgets of its number; copied onto each message (messages.budget) when it is enqueued.
ALTER TABLE campaigns ADD COLUMN budget TEXT;
""",
    ),
]
