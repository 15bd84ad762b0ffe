//! The tag snapshot of an export: every current tag with its provenance
//! (`tags`), and the one label per address that tracers use (`labels`: the
//! most confident active tag, as [`Labels::labelled`] gives it, with the
//! configured off-ramps), for each indexed chain.

use std::path::Path;

use chainsleuth_core::{Chain, Labels};
use chainsleuth_tags::{Category, OffRamps, TagFilter, TagStore, MAX_LIST_PAGE};

use crate::error::ExportError;
use crate::schema::{LABELS, TAGS};
use crate::sink::{TableWriter, WrittenFile, V};

/// Writes `tags.parquet` and `labels.parquet` into `dir` (`relative` under
/// the output directory).
pub(crate) fn write_snapshot(
    store: &TagStore,
    off_ramps: &OffRamps,
    dir: &Path,
    relative: &str,
) -> Result<Vec<WrittenFile>, ExportError> {
    let open = |spec: &'static crate::schema::TableSpec| {
        TableWriter::create(
            spec,
            dir.join(format!("{}.parquet", spec.name)),
            format!("{relative}/{}.parquet", spec.name),
        )
    };
    let mut tags = open(&TAGS)?;
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list(&TagFilter::default(), cursor.as_deref(), MAX_LIST_PAGE)?;
        for view in &page.tags {
            let (tag, p) = (&view.record.tag, &view.record.provenance);
            let status = tag.status.as_ref().map(ToString::to_string);
            tags.row(&[
                V::S(tag.chain.as_str()),
                V::S(&view.display_address),
                V::S(&tag.address),
                V::S(&view.source),
                V::I(i64::from(p.version)),
                V::S(tag.category.as_str()),
                V::OS(tag.entity.as_deref()),
                V::OS(tag.label.as_deref()),
                V::OS(tag.jurisdiction.as_deref()),
                V::OS(tag.licensed_by.as_deref()),
                V::OS(status.as_deref()),
                V::I(i64::from(tag.confidence.value)),
                V::OS(tag.confidence.level.as_deref()),
                V::OS(tag.reference.as_deref()),
                V::OS(tag.note.as_deref()),
                V::L(&tag.concepts),
                V::I(i64::try_from(p.import_id).unwrap_or(i64::MAX)),
                V::S(&p.file),
                V::S(&p.file_sha256),
                V::I(i64::try_from(p.record).unwrap_or(i64::MAX)),
                V::I(i64::try_from(p.imported_at).unwrap_or(i64::MAX)),
                V::OS(p.rule.as_deref()),
                V::OS(p.evidence.as_deref()),
            ])?;
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut labels = open(&LABELS)?;
    for chain in Chain::ALL {
        for (address, label) in store.labelled(chain)? {
            let off_ramp = match label.category.parse::<Category>() {
                Ok(category) => off_ramps.contains(category),
                Err(_) => label.off_ramp,
            };
            labels.row(&[
                V::S(chain.as_str()),
                V::S(&address),
                V::S(&label.entity),
                V::S(&label.category),
                V::OS(label.jurisdiction.as_deref()),
                V::OS(label.licensed_by.as_deref()),
                V::B(off_ramp),
                V::B(label.mixer),
                V::B(label.custodial),
            ])?;
        }
    }
    [tags, labels].into_iter().map(TableWriter::finish).collect()
}
