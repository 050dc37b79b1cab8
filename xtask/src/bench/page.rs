//! The page the echo server also serves: a first page of 20 resources as the resource service
//! answers ListResources (byte for byte but for the page token's fingerprint, which hashes
//! another query text of the same length), so that the framework's cost of carrying that page
//! (h2, tonic, protobuf on both sides, the client's decoding) is measured without the database.
//!
//! The page is built from the run's rows by the resource service's own query, pagination and
//! conversion (`store::list`, `PageRequest`, `grpc::convert`), for each user the scenarios call
//! as; the one of median size is kept. It reaches the echo process as a file (`--page`). It is
//! built once, from the fill's rows: in a full run, the rows that the lower levels'
//! CreateResource and pgbench's inserts add show up in later ListResources pages but not in
//! this one. It comes from the `resource_service` crate built into xtask, not from `--bin-dir`.

use std::path::Path;

use anyhow::Context as _;
use api_client::resource::v1::{ListResourcesResponse, Resource};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use prost::Message as _;
use resource_service::grpc::convert;
use resource_service::store::{self, ListFilter};
use serde::Serialize;
use shared::pagination::PageRequest;

/// What ListResources asks for in the benchmark.
pub const PAGE_SIZE: i32 = 20;

/// The page served, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct PageInfo {
    /// Whose first page it is.
    pub user_id: i32,
    /// Resources on it.
    pub resources: usize,
    /// Its encoded size (the gRPC message, without framing).
    pub bytes: usize,
}

/// The first page of each of `users`, as the service would answer it; the one of median
/// encoded size.
pub async fn median_first_page(
    database_url: &str,
    users: impl IntoIterator<Item = i32>,
) -> anyhow::Result<(PageInfo, ListResourcesResponse)> {
    let conn = AsyncPgConnection::establish(database_url).await.context("cannot connect to build the echo's page")?;
    let mut pages = Vec::new();
    for user_id in users {
        let request = PageRequest::parse(PAGE_SIZE, "", &format!("bench page of user {user_id}"))?;
        let filter = ListFilter { owner: Some(user_id), show_deleted: false };
        let rows = store::list(&conn, filter, None, request.fetch_limit()).await?;
        let page = request.finish(rows, |row| i64::from(row.id));
        let response = ListResourcesResponse {
            resources: page.items.into_iter().map(convert::resource).collect::<Vec<Resource>>(),
            next_page_token: page.next_page_token,
        };
        pages.push((user_id, response));
    }
    pages.sort_by_key(|(_, page)| page.encoded_len());
    let (user_id, page) = pages.get(pages.len() / 2).cloned().context("no user to build the echo's page for")?;
    let info = PageInfo { user_id, resources: page.resources.len(), bytes: page.encoded_len() };
    Ok((info, page))
}

/// Writes `page` for the echo server.
pub fn write(path: &Path, page: &ListResourcesResponse) -> anyhow::Result<()> {
    std::fs::write(path, page.encode_to_vec()).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads the page [`write`] wrote.
pub fn read(path: &Path) -> anyhow::Result<ListResourcesResponse> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    ListResourcesResponse::decode(bytes.as_slice())
        .with_context(|| format!("{} is not a ListResourcesResponse", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::fill;

    #[tokio::test]
    async fn the_median_first_page_is_built_as_the_service_builds_it_and_survives_the_file() -> anyhow::Result<()> {
        let database = devkit::test_database().await?;
        let phc = tokio::task::spawn_blocking(fill::password_hash).await??;
        fill::load(&database.url, &phc).await?;

        // By the fill's formula, users 1, 10 and 19 have 132, 240 and 348 bytes of content in
        // each resource.
        let (info, page) = median_first_page(&database.url, [19, 1, 10]).await?;
        assert_eq!(info.user_id, 10);
        assert_eq!((info.resources, page.resources.len()), (20, 20));
        assert_eq!(info.bytes, page.encoded_len());
        assert!(page.resources.iter().all(|resource| resource.owner_id == 10 && resource.delete_time.is_none()));
        assert!(page.resources.windows(2).all(|pair| pair[0].id > pair[1].id), "newest first");
        assert!(page.resources.iter().all(|resource| resource.content.as_deref().map(str::len) == Some(240)));
        assert!(!page.next_page_token.is_empty(), "user 10 has more than one page");

        let dir = devkit::scratch_dir("bench-page")?;
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("page.pb");
        write(&file, &page)?;
        assert_eq!(read(&file)?, page);
        Ok(())
    }
}
