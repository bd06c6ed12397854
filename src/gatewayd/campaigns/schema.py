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
]
