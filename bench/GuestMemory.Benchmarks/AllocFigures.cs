using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GuestMemory.Benchmarks;

/// <summary>The figures of <c>gmm bench alloc</c>, each with two decimals; nanoseconds are summarised as <see cref="Timing.Statistic"/> says.</summary>
public sealed record AllocFigures
{
    /// <summary>Allocate and free in batches of 128 pages, chunks already committed; per page. Target: at most 20 ns.</summary>
    [JsonConverter(typeof(TwoDecimals)), JsonPropertyName("alloc_free_ns_per_page")]
    public double AllocFreeNsPerPage { get; init; }

    /// <summary>Allocate a page the caller may read as zero, zeroing included, and free it, in batches of 128; per page. The free is timed too, as in <see cref="AllocFreeNsPerPage"/>.</summary>
    [JsonConverter(typeof(TwoDecimals)), JsonPropertyName("alloc_zeroed_ns_per_page")]
    public double AllocZeroedNsPerPage { get; init; }

    /// <summary>A plain <c>Span.Clear</c> of 4 KiB over the same working set of 128 pages. Target: zeroed allocation at most 1.5 times this.</summary>
    [JsonConverter(typeof(TwoDecimals)), JsonPropertyName("span_clear_ns_per_page")]
    public double SpanClearNsPerPage { get; init; }

    /// <summary>First use of fresh chunk memory: allocate from newly committed chunks, touch every page, free them back to the host; per page.</summary>
    [JsonConverter(typeof(TwoDecimals)), JsonPropertyName("new_chunk_ns_per_page")]
    public double NewChunkNsPerPage { get; init; }

    /// <summary>The kernel's own path for the same amount: mmap anonymous memory, touch every 4 KiB page once, munmap; per page.</summary>
    [JsonConverter(typeof(TwoDecimals)), JsonPropertyName("kernel_fault_ns_per_page")]
    public double KernelFaultNsPerPage { get; init; }

    /// <summary>Gmm metadata per host page: the chunk object with its 512 state words and its slot in the chunk table. Target: 8.</summary>
    [JsonConverter(typeof(TwoDecimals)), JsonPropertyName("gmm_bytes_per_host_page")]
    public double GmmBytesPerHostPage { get; init; }
}

/// <summary>Writes a figure as a JSON number with exactly two decimals (8.20, not 8.2), as the report promises.</summary>
public sealed class TwoDecimals : JsonConverter<double>
{
    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetDouble();

    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options) =>
        writer.WriteRawValue(value.ToString("0.00", CultureInfo.InvariantCulture));
}
